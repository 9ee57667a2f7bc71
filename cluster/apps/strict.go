package apps

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// No field of an app definition is silently dropped: every key of the
// request is either a field of App (at any depth) or refused with a 422
// naming it. Fields of Marathon's app schema (docs/docs/rest-api/public/
// api/v2/types/app.raml and the types it uses, in
// github.com/mesosphere/marathon) that nodectl does not implement are
// refused as "not yet supported" unless their value asks for nothing
// (false, an empty list, host networking), which is what nodectl does.

// appInfoFields are the read-only fields of Marathon's AppInfo (GET
// /v2/apps/{id}): clients that PUT back what they read send them, and
// Marathon ignores them, as does nodectl.
var appInfoFields = map[string]bool{
	"tasksStaged": true, "tasksRunning": true, "tasksHealthy": true, "tasksUnhealthy": true,
	"deployments": true, "readinessCheckResults": true, "tasks": true, "lastTaskFailure": true,
	"taskStats": true, "version": true, "versionInfo": true,
}

// notSupported are Marathon app fields nodectl does not implement,
// by path pattern ("*" for an array index): what they are, and when a
// value asks for nothing (nil: every non-null value is refused).
var notSupported = []struct {
	path   string
	what   string
	noop   func(v any) bool
	reason string
}{
	{"/container/docker/privileged", "container.docker.privileged", isFalse, ""},
	{"/container/docker/parameters", "container.docker.parameters", emptyList, ""},
	{"/container/docker/credential", "container.docker.credential", nil, ""},
	{"/container/linuxInfo/ipcInfo", "container.linuxInfo.ipcInfo", nil, ""},
	{"/container/volumes/*/external", "external volumes (container.volumes[].external)", nil, ""},
	{"/container/volumes/*/persistent/profileName", "container.volumes[].persistent.profileName", nil, ""},
	{"/healthChecks/*/ignoreHttp1xx", "healthChecks[].ignoreHttp1xx", isFalse, ""},
	{"/healthChecks/*/ipProtocol", "healthChecks[].ipProtocol", func(v any) bool { return v == "IPv4" }, ""},
	{"/check", "check (Mesos checks)", nil, ""},
	{"/executorResources", "executorResources", nil, ""},
	{"/resourceLimits", "resourceLimits", nil, ""},
	{"/tty", "tty", isFalse, ""},
}

func isFalse(v any) bool { return v == false }

func emptyList(v any) bool { l, ok := v.([]any); return ok && len(l) == 0 }

var indexRE = regexp.MustCompile(`/[0-9]+(/|$)`)

// strictDetails is the 422 details of the keys of m (a decoded request)
// that are no field of App.
func strictDetails(m map[string]json.RawMessage) []Detail {
	var in map[string]any
	b, _ := json.Marshal(m)
	if json.Unmarshal(b, &in) != nil {
		return nil // the typed decode reports it
	}
	for k := range appInfoFields {
		delete(in, k)
	}
	var unknown []string
	walkUnknown(in, reflect.TypeOf(App{}), "", &unknown)
	slices.Sort(unknown)
	var ds []Detail
	for _, p := range unknown {
		pattern := indexRE.ReplaceAllString(p, "/*$1")
		pattern = indexRE.ReplaceAllString(pattern, "/*$1")
		msg := fmt.Sprintf("unknown field %q is not part of Marathon's app definition (nodectl refuses what it would ignore)", strings.TrimPrefix(p, "/"))
		known := false
		for _, ns := range notSupported {
			if ns.path != pattern {
				continue
			}
			known = true
			if ns.noop != nil && ns.noop(valueAt(in, p)) {
				break
			}
			msg = ns.what + " is not yet supported by nodectl"
			if ns.reason != "" {
				msg += " (" + ns.reason + ")"
			}
			ds = append(ds, Detail{Path: p, Errors: []string{msg}})
		}
		if !known {
			ds = append(ds, Detail{Path: p, Errors: []string{msg}})
		}
	}
	return ds
}

// walkUnknown appends the paths of v's object keys that t has no field for.
func walkUnknown(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Map:
			for k, x := range v {
				walkUnknown(x, t.Elem(), path+"/"+k, out)
			}
		case reflect.Struct:
			fields := jsonFields(t)
			for k, x := range v {
				ft, ok := fields[k]
				if !ok {
					*out = append(*out, path+"/"+k)
					continue
				}
				if x != nil {
					walkUnknown(x, ft, path+"/"+k, out)
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, x := range v {
				walkUnknown(x, t.Elem(), fmt.Sprintf("%s/%d", path, i), out)
			}
		}
	}
}

// jsonFields maps t's JSON keys to their types. Types that decode
// themselves with other keys list them here.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == reflect.TypeOf(Unreachable{}) {
		f := reflect.TypeOf(0.0)
		return map[string]reflect.Type{"inactiveAfterSeconds": f, "expungeAfterSeconds": f}
	}
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// valueAt is the value at a JSON pointer-like path in v.
func valueAt(v any, path string) any {
	for _, s := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		switch x := v.(type) {
		case map[string]any:
			v = x[s]
		case []any:
			var i int
			if _, err := fmt.Sscanf(s, "%d", &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// unsupportedValues is the 422 details of fields App has whose value
// nodectl would not act on.
func (a *App) unsupportedValues() []Detail {
	var ds []Detail
	if a.Gpus > 0 {
		ds = append(ds, Detail{Path: "/gpus", Errors: []string{"gpus is not yet supported by nodectl"}})
	}
	if a.Executor != "" && a.Executor != "//cmd" {
		ds = append(ds, Detail{Path: "/executor", Errors: []string{"a custom executor is not yet supported by nodectl (only the command executor, \"//cmd\")"}})
	}
	return ds
}
