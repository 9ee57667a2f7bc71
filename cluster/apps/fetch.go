package apps

import (
	"encoding/json"
	"net/url"
	"strings"
)

// marathonExtractable are the names Marathon extracts when it turns the
// deprecated `uris` into `fetch` (FetchUri.supportedFileTypes in
// Marathon's src/main/scala/mesosphere/marathon/state/FetchUri.scala).
var marathonExtractable = []string{".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".gz", ".tgz", ".tbz2", ".txz", ".zip"}

// normalizeURIs turns the deprecated `uris` (a list of strings) into
// `fetch` as Marathon's AppNormalization does: extract when the URI's path
// ends in an archive suffix, not executable, not cached. When `fetch` is
// given too, both stay, and validate refuses them (Marathon: "cannot
// specify both uris and fetch fields").
func (a *App) normalizeURIs() {
	if len(a.URIs) == 0 {
		a.URIs = nil
		return
	}
	if len(a.Fetch) > 0 {
		return
	}
	for _, u := range a.URIs {
		a.Fetch = append(a.Fetch, Fetch{URI: u, Extract: ptr(isExtract(u))})
	}
	a.URIs = nil
}

// isExtract is Marathon's FetchUri.isExtract: false for what is not a URI.
func isExtract(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	for _, s := range marathonExtractable {
		if strings.HasSuffix(u.Path, s) {
			return true
		}
	}
	return false
}

// dropStoredFetch: an update that gives `uris` without `fetch` replaces the
// stored `fetch` (which the stored `uris` became), rather than conflicting
// with it.
func dropStoredFetch(merged, update map[string]json.RawMessage) {
	if _, ok := update["uris"]; !ok {
		return
	}
	if _, ok := update["fetch"]; !ok {
		delete(merged, "fetch")
	}
}
