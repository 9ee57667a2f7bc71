package apps

import (
	"encoding/json"
	"reflect"
	"testing"

	"nodectl/cluster/api"
)

// The deprecated `uris` become `fetch` with Marathon's defaults (extract
// for archive names, not executable, not cached); fetch[].destPath is
// Mesos' output_file; giving both uris and fetch is a 422.
func TestFetchAndLegacyURIs(t *testing.T) {
	h := newHarness(t)
	var app map[string]any
	body := `{"id":"/legacy","cmd":"ls","uris":["http://h/app.tgz","http://h/conf.json","http://h/x.tar.xz?sig=1","http://h/notes.gz"]}`
	if code := h.do("POST", "/v2/apps", body, &app); code != 201 {
		t.Fatalf("create with uris: %d %v", code, app)
	}
	if _, ok := app["uris"]; ok {
		t.Errorf("uris shown after normalization: %v", app["uris"])
	}
	got, _ := json.Marshal(app["fetch"])
	want := `[{"extract":true,"uri":"http://h/app.tgz"},{"extract":false,"uri":"http://h/conf.json"},{"extract":true,"uri":"http://h/x.tar.xz?sig=1"},{"extract":true,"uri":"http://h/notes.gz"}]`
	if string(got) != want {
		t.Errorf("fetch = %s\nwant    %s", got, want)
	}
	h.offerFrom("h1", res)
	ls := h.fake.launched()
	if len(ls) != 1 {
		t.Fatalf("launched %d", len(ls))
	}
	f, tr := false, true
	wantURIs := []api.CommandURI{{Value: "http://h/app.tgz", Extract: &tr}, {Value: "http://h/conf.json", Extract: &f}, {Value: "http://h/x.tar.xz?sig=1", Extract: &tr}, {Value: "http://h/notes.gz", Extract: &tr}}
	if !reflect.DeepEqual(ls[0].Command.URIs, wantURIs) {
		t.Errorf("CommandInfo.uris = %+v", ls[0].Command.URIs)
	}

	body = `{"id":"/dest","cmd":"ls","fetch":[{"uri":"http://h/bin","executable":true,"cache":true,"destPath":"tools/bin"}]}`
	if code := h.do("POST", "/v2/apps", body, &app); code != 201 {
		t.Fatalf("create with fetch: %d %v", code, app)
	}
	h.offerFrom("h2", res)
	ls = h.fake.launched()
	if u := ls[len(ls)-1].Command.URIs; len(u) != 1 || u[0] != (api.CommandURI{Value: "http://h/bin", Executable: true, Cache: true, OutputFile: "tools/bin"}) {
		t.Errorf("CommandInfo.uris = %+v", u)
	}
	if got, _ := json.Marshal(h.app("/dest")["fetch"]); string(got) != `[{"cache":true,"destPath":"tools/bin","executable":true,"uri":"http://h/bin"}]` {
		t.Errorf("fetch shown as %s", got)
	}

	var inv map[string]any
	if code := h.do("POST", "/v2/apps", `{"id":"/both","cmd":"ls","uris":["http://h/a"],"fetch":[{"uri":"http://h/b"}]}`, &inv); code != 422 {
		t.Errorf("uris and fetch: %d %v, want 422", code, inv)
	}
	// An update giving uris replaces the stored fetch.
	var upd map[string]any
	if code := h.do("PUT", "/v2/apps/dest?force=true", `{"uris":["http://h/new.zip"]}`, &upd); code != 200 {
		t.Fatalf("update with uris: %d %v", code, upd)
	}
	if got, _ := json.Marshal(h.app("/dest")["fetch"]); string(got) != `[{"extract":true,"uri":"http://h/new.zip"}]` {
		t.Errorf("fetch after update %s", got)
	}
}
