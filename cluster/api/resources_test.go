package api

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
)

func mustParse(t testing.TB, s string) Resources {
	t.Helper()
	rs, err := ParseResources(s)
	if err != nil {
		t.Fatalf("ParseResources(%q): %v", s, err)
	}
	return rs
}

func TestParseResources(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // String() of the result; "" with wantErr false means empty
		err  bool
	}{
		{name: "empty", in: "", want: ""},
		{name: "blank", in: "  ;  ; ", want: ""},
		{name: "mesos default", in: "cpus:2;mem:1024;disk:4096;ports:[31000-32000]", want: "cpus:2;mem:1024;disk:4096;ports:[31000-32000]"},
		{name: "spaces", in: " cpus : 2 ; mem:1024 ", want: "cpus:2;mem:1024"},
		{name: "role", in: "cpus(web):1;cpus:2", want: "cpus(web):1;cpus:2"},
		{name: "role with spaces", in: "cpus ( web ) :1", want: "cpus(web):1"},
		{name: "star role", in: "cpus(*):1;cpus:2", want: "cpus:3"},
		{name: "hierarchical role", in: "cpus(eng/backend):1", want: "cpus(eng/backend):1"},
		{name: "repeats add up", in: "cpus:1;cpus:0.5;mem:1", want: "cpus:1.5;mem:1"},
		{name: "fixed point", in: "cpus:0.1;cpus:0.2", want: "cpus:0.3"},
		{name: "rounds to thousandths", in: "cpus:0.12345", want: "cpus:0.123"},
		{name: "tiny scalar vanishes", in: "cpus:0.0001", want: ""},
		{name: "zero vanishes", in: "cpus:0;mem:1", want: "mem:1"},
		{name: "ranges merge", in: "ports:[5-6,1-2,3-4,10-10]", want: "ports:[1-6,10-10]"},
		{name: "single port", in: "ports:[80]", want: "ports:[80-80]"},
		{name: "empty ranges vanish", in: "ports:[]", want: ""},
		{name: "ranges up to max", in: "ports:[0-18446744073709551615,5-6]", want: "ports:[0-18446744073709551615]"},
		{name: "set", in: "zones:{a, b,a}", want: "zones:{a,b}"},
		{name: "json", in: `[{"name":"cpus","type":"SCALAR","scalar":{"value":8}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31005}]}},{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"ads"}]`, want: "cpus:8;ports:[31000-31005];cpus(ads):1"},
		{name: "json empty", in: `[]`, want: ""},
		{name: "json set", in: ` [ {"name":"zones","type":"SET","set":{"item":["a","b"]}} ]`, want: "zones:{a,b}"},

		{name: "no colon", in: "cpus", err: true},
		{name: "empty name", in: ":1", err: true},
		{name: "bad name", in: "cp us:1", err: true},
		{name: "negative", in: "cpus:-1", err: true},
		{name: "nan", in: "cpus:NaN", err: true},
		{name: "inf", in: "cpus:Inf", err: true},
		{name: "too big", in: "mem:1e13", err: true},
		{name: "not a number", in: "cpus:two", err: true},
		{name: "unbalanced role", in: "cpus(web:1", err: true},
		{name: "empty role", in: "cpus():1", err: true},
		{name: "bad role dash", in: "cpus(-x):1", err: true},
		{name: "bad role dots", in: "cpus(a/../b):1", err: true},
		{name: "bad role space", in: "cpus(a b):1", err: true},
		{name: "bad range order", in: "ports:[5-1]", err: true},
		{name: "bad range text", in: "ports:[a-b]", err: true},
		{name: "unterminated ranges", in: "ports:[1-2", err: true},
		{name: "unterminated set", in: "zones:{a", err: true},
		{name: "type clash", in: "cpus:1;cpus:[1-2]", err: true},
		{name: "bad json", in: `[{"name":`, err: true},
		{name: "json no type", in: `[{"name":"cpus","scalar":{"value":1}}]`, err: true},
		{name: "json scalar missing", in: `[{"name":"cpus","type":"SCALAR"}]`, err: true},
		{name: "json reversed range", in: `[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":9,"end":1}]}}]`, err: true},
		{name: "json bad item", in: `[{"name":"z","type":"SET","set":{"item":["a,b"]}}]`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResources(tt.in)
			if tt.err {
				if !errors.Is(err, ErrBadResources) {
					t.Fatalf("ParseResources(%q) = %v, %v; want an ErrBadResources error", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResources(%q): %v", tt.in, err)
			}
			if got.String() != tt.want {
				t.Errorf("ParseResources(%q) = %q, want %q", tt.in, got.String(), tt.want)
			}
		})
	}
}

func TestResourcesArithmetic(t *testing.T) {
	tests := []struct {
		name        string
		a, b        string
		add, sub    string
		aHasB, bInA bool
	}{
		{name: "scalars", a: "cpus:4;mem:1024", b: "cpus:1;mem:24", add: "cpus:5;mem:1048", sub: "cpus:3;mem:1000", aHasB: true},
		{name: "clamps at zero", a: "cpus:1", b: "cpus:2;mem:1", add: "cpus:3;mem:1", sub: "", bInA: true},
		{name: "roles kept apart", a: "cpus:4;cpus(web):2", b: "cpus(web):1", add: "cpus:4;cpus(web):3", sub: "cpus:4;cpus(web):1", aHasB: true},
		{name: "other role not contained", a: "cpus:4", b: "cpus(web):1", add: "cpus:4;cpus(web):1", sub: "cpus:4"},
		{name: "ranges", a: "ports:[1-10]", b: "ports:[3-4,9-12]", add: "ports:[1-12]", sub: "ports:[1-2,5-8]"},
		{name: "range inside", a: "ports:[1-10]", b: "ports:[3-4]", add: "ports:[1-10]", sub: "ports:[1-2,5-10]", aHasB: true},
		{name: "sets", a: "z:{a,b}", b: "z:{b,c}", add: "z:{a,b,c}", sub: "z:{a}"},
		{name: "set inside", a: "z:{a,b}", b: "z:{b}", add: "z:{a,b}", sub: "z:{a}", aHasB: true},
		{name: "empty b", a: "cpus:1", b: "", add: "cpus:1", sub: "cpus:1", aHasB: true},
		{name: "empty a", a: "", b: "cpus:1", add: "cpus:1", sub: "", bInA: true},
		{name: "fractions", a: "cpus:0.3", b: "cpus:0.1", add: "cpus:0.4", sub: "cpus:0.2", aHasB: true},
		{name: "equal", a: "cpus:1;ports:[1-2]", b: "ports:[1-2];cpus:1", add: "cpus:2;ports:[1-2]", sub: "", aHasB: true, bInA: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := mustParse(t, tt.a), mustParse(t, tt.b)
			aStr, bStr := a.String(), b.String()
			if got := a.Add(b).String(); got != tt.add {
				t.Errorf("%s + %s = %q, want %q", tt.a, tt.b, got, tt.add)
			}
			if got := a.Subtract(b).String(); got != tt.sub {
				t.Errorf("%s - %s = %q, want %q", tt.a, tt.b, got, tt.sub)
			}
			if got := a.Contains(b); got != tt.aHasB {
				t.Errorf("(%s).Contains(%s) = %v, want %v", tt.a, tt.b, got, tt.aHasB)
			}
			if got := b.Contains(a); got != tt.bInA {
				t.Errorf("(%s).Contains(%s) = %v, want %v", tt.b, tt.a, got, tt.bInA)
			}
			if got, want := a.Equal(b), tt.aHasB && tt.bInA; got != want {
				t.Errorf("(%s).Equal(%s) = %v, want %v", tt.a, tt.b, got, want)
			}
			if a.String() != aStr || b.String() != bStr {
				t.Errorf("operands changed: %q %q, were %q %q", a, b, aStr, bStr)
			}
		})
	}
}

// TestResourcesUnnormalised covers bags built by hand rather than parsed:
// duplicates, nil values, empty roles. They used to be subtracted twice or
// to panic.
func TestResourcesUnnormalised(t *testing.T) {
	dup := Resources{ScalarResource("cpus", 1), ScalarResource("cpus", 1), {Name: "mem", Type: Scalar, Role: ""}}
	if got := dup.Subtract(Resources{ScalarResource("cpus", 1)}).String(); got != "cpus:1" {
		t.Errorf("duplicate entries: got %q, want cpus:1", got)
	}
	if !dup.Contains(Resources{ScalarResource("cpus", 2)}) {
		t.Error("duplicate entries should add up in Contains")
	}
	if (Resources{ScalarResource("cpus", 1)}).Contains(Resources{ScalarResource("cpus", 1), ScalarResource("cpus", 1)}) {
		t.Error("cpus:1 must not contain cpus:1 twice")
	}
	clash := Resources{ScalarResource("x", 1)}.Add(Resources{RangesResource("x", Range{1, 2})})
	if got := clash.String(); got != "x:1;x:[1-2]" {
		t.Errorf("type clash: got %q", got)
	}
	if got := clash.Subtract(Resources{RangesResource("x", Range{1, 1})}).String(); got != "x:1;x:[2-2]" {
		t.Errorf("type clash subtract: got %q", got)
	}
	if got := (Resources{{Name: "x", Type: "WEIRD"}}).Add(nil); got != nil {
		t.Errorf("unknown types should be dropped, got %v", got)
	}
}

func TestResourcesAccessors(t *testing.T) {
	rs := mustParse(t, "cpus:2;cpus(web):1.5;mem:100;ports:[5-6];ports(web):[1-2];z:{a};z(web):{b,a}")
	if got := rs.Scalar("cpus"); got != 3.5 {
		t.Errorf("Scalar(cpus) = %v, want 3.5", got)
	}
	if got := rs.Scalar("gpus"); got != 0 {
		t.Errorf("Scalar(gpus) = %v, want 0", got)
	}
	if got, want := rs.RangesOf("ports"), []Range{{1, 2}, {5, 6}}; !reflect.DeepEqual(got, want) {
		t.Errorf("RangesOf(ports) = %v, want %v", got, want)
	}
	want := map[string]any{"cpus": 3.5, "mem": 100.0, "disk": 0.0, "gpus": 0.0, "ports": "[1-2, 5-6]", "z": "{a, b}"}
	if got := rs.Summary(); !reflect.DeepEqual(got, want) {
		t.Errorf("Summary() = %v, want %v", got, want)
	}
	web := rs.Filter(func(r Resource) bool { return r.Role == "web" })
	if got := web.String(); got != "cpus(web):1.5;ports(web):[1-2];z(web):{b,a}" {
		t.Errorf("Filter(web) = %q", got)
	}
	if got := (Resources{SetResource("z", "a", "a", "b")}).String(); got != "z:{a,b}" {
		t.Errorf("SetResource = %q", got)
	}
}

func TestValidateRole(t *testing.T) {
	for role, ok := range map[string]bool{
		"*": true, "web": true, "eng/backend": true, "a.b-c_d": true,
		"": false, ".": false, "..": false, "-a": false, "a/-b": false, "a//b": false, "/a": false, "a/": false,
		"a b": false, "a\tb": false, "a/*": false, "a:b": false, "a(b)": false, "a,b": false,
	} {
		if err := ValidateRole(role); (err == nil) != ok {
			t.Errorf("ValidateRole(%q) = %v, want ok=%v", role, err, ok)
		}
	}
}

func TestResourcesJSONRoundTrip(t *testing.T) {
	rs := mustParse(t, "cpus:2;mem(web):1024;ports:[31000-32000];z:{a,b}")
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, string(b))
	if back.String() != rs.String() {
		t.Errorf("JSON round trip: %s -> %s -> %s", rs, b, back)
	}
}

// nonScalars keeps the ranges and sets of rs: the part of a bag where
// Add is a union rather than a sum.
func nonScalars(rs Resources) Resources {
	return rs.Filter(func(r Resource) bool { return r.Type != Scalar })
}

// FuzzParseResources checks that whatever parses prints in a form that parses
// back to the same bag, and that Add then Subtract returns the original. Seeds
// are in testdata/fuzz/FuzzParseResources; run with
// go test ./cluster/api -fuzz FuzzParseResources.
func FuzzParseResources(f *testing.F) {
	for _, s := range [][2]string{
		{"cpus:2;mem:1024;disk:4096;ports:[31000-32000]", "cpus:1;mem:128"},
		{"cpus(web):1;cpus:2", "cpus(web):0.5;ports:[31000-31005]"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, sa, sb string) {
		a, err := ParseResources(sa)
		if err != nil {
			if !errors.Is(err, ErrBadResources) {
				t.Fatalf("ParseResources(%q) error %v does not wrap ErrBadResources", sa, err)
			}
			return
		}
		text := a.String()
		back, err := ParseResources(text)
		if err != nil {
			t.Fatalf("ParseResources(%q) = %q, which does not parse: %v", sa, text, err)
		}
		if back.String() != text || !back.Equal(a) {
			t.Fatalf("round trip %q -> %q -> %q", sa, text, back)
		}
		js, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if fromJSON, err := ParseResources(string(js)); err != nil || fromJSON.String() != text {
			t.Fatalf("JSON round trip %q -> %s -> %q, %v", text, js, fromJSON, err)
		}

		b, err := ParseResources(sb)
		if err != nil {
			return
		}
		// Ranges and sets add as unions, so only a part disjoint from a
		// comes back off exactly.
		b = b.Subtract(nonScalars(a))
		sum := a.Add(b)
		if !sum.Contains(a) || !sum.Contains(b) {
			t.Fatalf("%q + %q = %q does not contain both", a, b, sum)
		}
		if got := sum.Subtract(b); got.String() != text || !got.Equal(a) {
			t.Fatalf("(%q + %q) - %q = %q, want %q", a, b, b, got, text)
		}
		for _, r := range sum {
			if r.Type != Scalar {
				continue
			}
			want := toMillis(a.Scalar(r.Name)) + toMillis(b.Scalar(r.Name))
			if got := toMillis(sum.Scalar(r.Name)); got != want || math.IsInf(sum.Scalar(r.Name), 0) {
				t.Fatalf("Scalar(%s) of %q = %d millis, want %d", r.Name, sum, got, want)
			}
		}
		if a.String() != text {
			t.Fatalf("Add/Subtract modified their receiver: %q -> %q", text, a)
		}
	})
}

// Sum gives what adding the bags one by one gives, and leaves them as
// they were.
func TestResourcesSum(t *testing.T) {
	bags := []Resources{
		mustParse(t, "cpus:0.1;mem:32;ports:[31000-31001]"),
		nil,
		mustParse(t, "cpus(web):2;z:{b,c};ports:[31005-31009]"),
		mustParse(t, "cpus:0.2;z:{a};ports:[31002-31004];disk:10"),
	}
	before := mustParse(t, bags[0].String())
	var want Resources
	for _, b := range bags {
		want = want.Add(b)
	}
	got := Sum(slices.Values(bags))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sum %s, want %s (Add one by one)", got, want)
	}
	if !reflect.DeepEqual(bags[0], before) {
		t.Errorf("Sum changed its input: %s, was %s", bags[0], before)
	}
	if got := Sum(slices.Values([]Resources{nil, {}})); got != nil {
		t.Errorf("Sum of empty bags %#v, want nil", got)
	}
}
