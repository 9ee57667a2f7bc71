package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, url string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	return rec
}

func TestHandlerServesIndexAndAssets(t *testing.T) {
	idx := get(t, "/")
	if idx.Code != http.StatusOK || !strings.Contains(idx.Body.String(), `src="/ui/js/main.js"`) {
		t.Fatalf("GET /: %d %.200s", idx.Code, idx.Body)
	}
	for url, ctype := range map[string]string{
		"/ui/js/main.js": "text/javascript",
		"/ui/app.css":    "text/css",
	} {
		rec := get(t, url)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q, want 200 %s", url, rec.Code, rec.Header().Get("Content-Type"), ctype)
		}
	}
	if rec := get(t, "/ui/nope.js"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /ui/nope.js: %d", rec.Code)
	}
}

// TestAssetsSelfContained: every module import resolves to an embedded file,
// and nothing is loaded from another origin (no CDN, fonts or scripts).
func TestAssetsSelfContained(t *testing.T) {
	imports := regexp.MustCompile(`(?m)^import\s[^'"]*['"]([^'"]+)['"]`)
	external := regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//|@import\s+url\(|url\(["']?https?:|from\s+['"]https?:`)
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		if m := external.FindString(string(b)); m != "" {
			t.Errorf("%s loads from another origin: %q", p, m)
		}
		if path.Ext(p) != ".js" {
			return nil
		}
		for _, m := range imports.FindAllStringSubmatch(string(b), -1) {
			target := path.Join(path.Dir(p), m[1])
			if _, err := fs.Stat(assets, target); err != nil {
				t.Errorf("%s imports %s: %v", p, m[1], err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
