package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrBadResources is wrapped by every resource parsing error.
var ErrBadResources = errors.New("bad resources")

// ValueType is the Mesos Value.Type of a resource.
type ValueType string

// The three kinds of resource values Mesos knows.
const (
	Scalar ValueType = "SCALAR"
	Ranges ValueType = "RANGES"
	Set    ValueType = "SET"
)

// MaxScalar is the largest scalar value a resource may carry. Scalars are
// added and subtracted in fixed point (thousandths, as Mesos does) in an
// int64, and this bound leaves room to add up a million of them exactly.
const MaxScalar = 1e12

// Range is an inclusive [Begin, End] range, as in Mesos port ranges.
type Range struct {
	Begin uint64 `json:"begin"`
	End   uint64 `json:"end"`
}

// Resource is one named resource in the Mesos "full" JSON shape. Role is
// "*" (or empty) for unreserved resources.
//
// Dynamic reservations come in either Mesos JSON shape (Reservations, the
// post-refinement stack, or Role plus Reservation) and are kept in both
// (see reservation.go); Disk makes reserved disk a persistent volume. Two
// resources merge only when all of those match, which is what sameKey
// decides.
type Resource struct {
	Name         string            `json:"name"`
	Type         ValueType         `json:"type"`
	Scalar       *ScalarVal        `json:"scalar,omitempty"`
	Ranges       *RangesVal        `json:"ranges,omitempty"`
	Set          *SetVal           `json:"set,omitempty"`
	Role         string            `json:"role,omitempty"`
	Reservation  *ReservationInfo  `json:"reservation,omitempty"`
	Reservations []ReservationInfo `json:"reservations,omitempty"`
	Disk         *DiskInfo         `json:"disk,omitempty"`
}

// ScalarVal, RangesVal and SetVal mirror the Mesos JSON nesting
// ({"scalar":{"value":1}}, {"ranges":{"range":[...]}}, {"set":{"item":[...]}}).
type (
	ScalarVal struct {
		Value float64 `json:"value"`
	}
	RangesVal struct {
		Range []Range `json:"range"`
	}
	SetVal struct {
		Item []string `json:"item"`
	}
)

// Resources is a bag of resources. The zero value is empty. Operations return
// a normalised bag: one entry per (name, type, role), no empty entries,
// scalars in thousandths, ranges sorted and merged, set items unique, in the
// order each entry first appeared.
//
// Bags are values: no operation changes its operands, so a bag can be
// shared freely as long as nobody writes into one in place.
type Resources []Resource

// toMillis and fromMillis are the fixed-point representation Mesos uses for
// scalars (three decimal places), so 0.1+0.2 compares equal to 0.3 and
// (a+b)-b is exactly a.
func toMillis(v float64) int64   { return int64(math.Round(v * 1000)) }
func fromMillis(m int64) float64 { return float64(m) / 1000 }

func roundScalar(v float64) float64 { return fromMillis(toMillis(v)) }

func (r Resource) millis() int64 {
	if r.Scalar == nil {
		return 0
	}
	return toMillis(r.Scalar.Value)
}

// sameKey reports whether a and b are the same kind of resource and so merge
// into one entry.
func sameKey(a, b Resource) bool {
	if a.Name != b.Name || a.Type != b.Type || normRole(a.Role) != normRole(b.Role) {
		return false
	}
	if a.Reservation == nil && b.Reservation == nil && len(a.Reservations) == 0 && len(b.Reservations) == 0 && a.Disk == nil && b.Disk == nil {
		return true // the usual case: no dynamic reservation, no volume
	}
	return sameReservation(a, b) && sameDisk(a, b)
}

// SameKind reports whether a and b are the same kind of resource (name,
// type, role, reservation and volume) and so merge into one entry.
func SameKind(a, b Resource) bool { return sameKey(a, b) }

func normRole(role string) string {
	if role == "" {
		return "*"
	}
	return role
}

// ParseResources parses the Mesos text syntax
// "cpus:2;mem:1024;disk:4096;ports:[31000-32000];zones:{a,b}", with optional
// roles ("cpus(web):1") and disk sources ("disk[MOUNT:/mnt/ssd-1]:2048",
// the form String writes; see disksource.go), or a JSON array of full
// resources. Repeated entries
// add up; a name used with two different types is an error.
func ParseResources(s string) (Resources, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "null" { // "null" is how JSON spells an empty bag
		return nil, nil
	}
	var in Resources
	if strings.HasPrefix(s, "[") {
		// Resource names never start with "[", so this is the JSON form.
		if err := json.Unmarshal([]byte(s), &in); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadResources, err)
		}
	} else {
		for _, part := range strings.Split(s, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			r, err := parseOne(part)
			if err != nil {
				return nil, err
			}
			in = append(in, r)
		}
	}
	roots := map[string]bool{}
	for _, r := range in {
		if s := r.Source(); s != nil {
			if roots[filepath.Clean(s.Root())] {
				return nil, fmt.Errorf("%w: disk root %s is listed twice", ErrBadResources, s.Root())
			}
			roots[filepath.Clean(s.Root())] = true
		}
	}
	return Validated(in)
}

// Validated checks resources decoded from JSON (both reservation shapes)
// and returns them normalised.
func Validated(in Resources) (Resources, error) {
	in = slices.Clone(in)
	types := map[string]ValueType{}
	for i := range in {
		in[i].normReservation()
	}
	for _, r := range in {
		if err := r.validate(); err != nil {
			return nil, err
		}
		if t, ok := types[r.Name]; ok && t != r.Type {
			return nil, fmt.Errorf("%w: %s is both %s and %s", ErrBadResources, r.Name, t, r.Type)
		}
		types[r.Name] = r.Type
	}
	return in.Add(nil), nil
}

func parseOne(part string) (Resource, error) {
	r := Resource{Role: "*"}
	// A PATH or MOUNT disk: name(role)?[TYPE:root]:value, as String writes it.
	if i, j := strings.IndexByte(part, '['), strings.IndexByte(part, ':'); i >= 0 && (j < 0 || i < j) {
		k := strings.IndexByte(part, ']')
		if k < i {
			return Resource{}, fmt.Errorf("%w: %q: unterminated disk source", ErrBadResources, part)
		}
		src, err := parseSourceText(part[i+1 : k])
		if err != nil {
			return Resource{}, err
		}
		r.Disk = &DiskInfo{Source: src}
		part = part[:i] + part[k+1:]
	}
	name, val, ok := strings.Cut(part, ":")
	if !ok {
		return Resource{}, fmt.Errorf("%w: %q: want name:value", ErrBadResources, part)
	}
	name = strings.TrimSpace(name)
	val = strings.TrimSpace(val)
	if i := strings.IndexByte(name, '('); i >= 0 {
		if !strings.HasSuffix(name, ")") {
			return Resource{}, fmt.Errorf("%w: %q: unbalanced role parenthesis", ErrBadResources, part)
		}
		r.Role = strings.TrimSpace(name[i+1 : len(name)-1])
		name = strings.TrimSpace(name[:i])
		if r.Role == "" {
			return Resource{}, fmt.Errorf("%w: %q: empty role", ErrBadResources, part)
		}
	}
	r.Name = name
	switch {
	case strings.HasPrefix(val, "["):
		if !strings.HasSuffix(val, "]") {
			return Resource{}, fmt.Errorf("%w: %q: unterminated range list", ErrBadResources, part)
		}
		rg, err := parseRanges(val[1 : len(val)-1])
		if err != nil {
			return Resource{}, fmt.Errorf("%w: %q: %w", ErrBadResources, part, err)
		}
		r.Type, r.Ranges = Ranges, &RangesVal{Range: rg}
	case strings.HasPrefix(val, "{"):
		if !strings.HasSuffix(val, "}") {
			return Resource{}, fmt.Errorf("%w: %q: unterminated set", ErrBadResources, part)
		}
		var items []string
		for _, it := range strings.Split(val[1:len(val)-1], ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		r.Type, r.Set = Set, &SetVal{Item: items}
	default:
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return Resource{}, fmt.Errorf("%w: %q: %q is not a number", ErrBadResources, part, val)
		}
		r.Type, r.Scalar = Scalar, &ScalarVal{Value: f}
	}
	return r, nil
}

func parseRanges(s string) ([]Range, error) {
	var out []Range
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		b, e, ok := strings.Cut(p, "-")
		if !ok {
			e = b
		}
		bv, err1 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		ev, err2 := strconv.ParseUint(strings.TrimSpace(e), 10, 64)
		if err1 != nil || err2 != nil || bv > ev {
			return nil, fmt.Errorf("bad range %q", p)
		}
		out = append(out, Range{bv, ev})
	}
	return out, nil
}

// validName: resource names are plain words ("cpus", "network_bandwidth"),
// so the text syntax never needs quoting.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == '/':
		default:
			return false
		}
	}
	return true
}

// ValidateRole checks a role name by the Mesos rules ("*", or one or more
// "/"-separated components, none empty, ".", "..", "*" or starting with
// "-", no whitespace or control characters). nodectl also refuses the
// characters its text syntax uses (`:;,()[]{}"`), because that syntax has no
// quoting.
func ValidateRole(role string) error {
	if role == "*" {
		return nil
	}
	if role == "" {
		return fmt.Errorf("%w: empty role", ErrBadResources)
	}
	if !utf8.ValidString(role) {
		return fmt.Errorf("%w: role %q is not UTF-8", ErrBadResources, role)
	}
	for _, c := range role {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`:;,()[]{}"`, c) {
			return fmt.Errorf("%w: role %q has invalid character %q", ErrBadResources, role, c)
		}
	}
	for _, comp := range strings.Split(role, "/") {
		if comp == "" || comp == "." || comp == ".." || comp == "*" || strings.HasPrefix(comp, "-") {
			return fmt.Errorf("%w: invalid role %q", ErrBadResources, role)
		}
	}
	return nil
}

func (r Resource) validate() error {
	if !validName(r.Name) {
		return fmt.Errorf("%w: invalid resource name %q", ErrBadResources, r.Name)
	}
	if err := ValidateRole(normRole(r.Role)); err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	if err := r.validateReservation(); err != nil {
		return err
	}
	switch r.Type {
	case Scalar:
		if r.Scalar == nil || !(r.Scalar.Value >= 0 && r.Scalar.Value <= MaxScalar) {
			return fmt.Errorf("%w: %s must be a number in [0, %g]", ErrBadResources, r.Name, float64(MaxScalar))
		}
	case Ranges:
		if r.Ranges == nil {
			return fmt.Errorf("%w: %s has no ranges", ErrBadResources, r.Name)
		}
		for _, rg := range r.Ranges.Range {
			if rg.Begin > rg.End {
				return fmt.Errorf("%w: %s: range %d-%d ends before it begins", ErrBadResources, r.Name, rg.Begin, rg.End)
			}
		}
	case Set:
		if r.Set == nil {
			return fmt.Errorf("%w: %s has no set", ErrBadResources, r.Name)
		}
		for _, it := range r.Set.Item {
			if it == "" || it != strings.TrimSpace(it) || !utf8.ValidString(it) || strings.ContainsAny(it, ",;{}") {
				return fmt.Errorf("%w: %s: invalid set item %q", ErrBadResources, r.Name, it)
			}
		}
	default:
		return fmt.Errorf("%w: %s has unknown type %q", ErrBadResources, r.Name, r.Type)
	}
	return nil
}

// coalesce sorts and merges overlapping or adjacent ranges into a new slice.
func coalesce(rs []Range) []Range {
	if len(rs) == 0 {
		return nil
	}
	return coalesceInPlace(slices.Clone(rs))
}

// coalesceInPlace is coalesce reusing s, which the caller owns.
func coalesceInPlace(s []Range) []Range {
	if len(s) == 0 {
		return nil
	}
	if !slices.IsSortedFunc(s, cmpBegin) {
		slices.SortFunc(s, cmpBegin)
	}
	out := s[:1]
	for _, r := range s[1:] {
		last := &out[len(out)-1]
		// last.End+1 would wrap at MaxUint64; such a range absorbs the rest.
		if last.End == math.MaxUint64 || r.Begin <= last.End+1 {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

func cmpBegin(a, b Range) int {
	switch {
	case a.Begin < b.Begin:
		return -1
	case a.Begin > b.Begin:
		return 1
	}
	return 0
}

// coalesced reports whether s is already in coalesce's form.
func coalesced(s []Range) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1].End == math.MaxUint64 || s[i].Begin <= s[i-1].End+1 {
			return false
		}
	}
	for _, r := range s {
		if r.Begin > r.End {
			return false
		}
	}
	return true
}

func subtractRanges(a, b []Range) []Range {
	out := slices.Clone(a)
	for _, x := range b {
		var next []Range
		for _, r := range out {
			if x.End < r.Begin || x.Begin > r.End {
				next = append(next, r)
				continue
			}
			if x.Begin > r.Begin {
				next = append(next, Range{r.Begin, x.Begin - 1})
			}
			if x.End < r.End {
				next = append(next, Range{x.End + 1, r.End})
			}
		}
		out = next
	}
	return coalesceInPlace(out)
}

// rangesCover reports whether the coalesced ranges have cover every range
// of need (in any form).
func rangesCover(have, need []Range) bool {
	for _, x := range need {
		if x.Begin > x.End {
			continue
		}
		// The first range of have ending at or after x.Begin must hold x:
		// have is coalesced, so x cannot span two of its ranges.
		i, _ := slices.BinarySearchFunc(have, x.Begin, func(r Range, b uint64) int {
			if r.End < b {
				return -1
			}
			return 1
		})
		if i == len(have) || have[i].Begin > x.Begin || have[i].End < x.End {
			return false
		}
	}
	return true
}

func unionItems(a, b []string) []string {
	for _, it := range b {
		if !slices.Contains(a, it) {
			a = append(a, it)
		}
	}
	return a
}

func (r Resource) empty() bool {
	switch r.Type {
	case Scalar:
		return r.millis() <= 0
	case Ranges:
		return r.Ranges == nil || len(r.Ranges.Range) == 0
	case Set:
		return r.Set == nil || len(r.Set.Item) == 0
	}
	return true // unknown types never survive an operation
}

// builder makes a normalised bag. Values of one bag share a backing array,
// so a bag of n scalars costs two allocations, not n+1.
type builder struct {
	out     Resources
	scalars []ScalarVal
	ranges  []RangesVal
}

func newBuilder(n int) *builder {
	return &builder{out: make(Resources, 0, n)}
}

// add merges r, in any form, into the bag.
func (b *builder) add(r Resource) {
	if r.Reservation != nil || len(r.Reservations) > 0 || r.Disk != nil {
		r.normReservation()
	}
	for i := range b.out {
		if !sameKey(b.out[i], r) {
			continue
		}
		cur := &b.out[i]
		switch r.Type {
		case Scalar:
			cur.Scalar.Value = fromMillis(cur.millis() + max(0, r.millis()))
		case Ranges:
			if r.Ranges != nil {
				cur.Ranges.Range = coalesceInPlace(append(cur.Ranges.Range, r.Ranges.Range...))
			}
		case Set:
			if r.Set != nil {
				cur.Set.Item = unionItems(cur.Set.Item, r.Set.Item)
			}
		}
		return
	}
	c := r
	c.Role = normRole(r.Role)
	c.Scalar, c.Ranges, c.Set = nil, nil, nil
	switch r.Type {
	case Scalar:
		if b.scalars == nil {
			b.scalars = make([]ScalarVal, 0, cap(b.out)-len(b.out))
		}
		b.scalars = append(b.scalars, ScalarVal{Value: fromMillis(max(0, r.millis()))})
		c.Scalar = &b.scalars[len(b.scalars)-1]
	case Ranges:
		if b.ranges == nil {
			b.ranges = make([]RangesVal, 0, 1)
		}
		var rg []Range
		if r.Ranges != nil {
			if coalesced(r.Ranges.Range) {
				rg = slices.Clone(r.Ranges.Range)
			} else {
				rg = coalesce(r.Ranges.Range)
			}
		}
		b.ranges = append(b.ranges, RangesVal{Range: rg})
		c.Ranges = &b.ranges[len(b.ranges)-1]
	case Set:
		c.Set = &SetVal{}
		if r.Set != nil {
			c.Set.Item = unionItems(nil, r.Set.Item)
		}
	}
	b.out = append(b.out, c)
}

// Add returns rs + other; rs is not modified. Scalars add up; ranges and sets
// are united.
func (rs Resources) Add(other Resources) Resources {
	b := newBuilder(len(rs) + len(other))
	for _, r := range rs {
		b.add(r)
	}
	for _, r := range other {
		b.add(r)
	}
	return b.out.compact()
}

// Sum is what adding every bag seq yields one by one (Add) gives, built
// once: Add copies the running total at every step, so a total over n
// bags (a master's 300,000 tasks) made n copies of it.
func Sum(seq iter.Seq[Resources]) Resources {
	b := newBuilder(0)
	for rs := range seq {
		for _, r := range rs {
			b.add(r)
		}
	}
	return b.out.compact()
}

// Subtract returns rs - other, dropping what becomes empty. Subtracting more
// than is there clamps at zero; use Contains first when that matters.
func (rs Resources) Subtract(other Resources) Resources {
	out := rs.Add(nil)
	for _, o := range other {
		for i := range out {
			if !sameKey(out[i], o) {
				continue
			}
			switch o.Type {
			case Scalar:
				out[i].Scalar.Value = fromMillis(max(0, out[i].millis()-max(0, o.millis())))
			case Ranges:
				if o.Ranges != nil {
					out[i].Ranges.Range = subtractRanges(out[i].Ranges.Range, o.Ranges.Range)
				}
			case Set:
				if o.Set != nil {
					out[i].Set.Item = slices.DeleteFunc(out[i].Set.Item, func(it string) bool {
						return slices.Contains(o.Set.Item, it)
					})
				}
			}
			break
		}
	}
	return out.compact()
}

// Contains reports whether other fits entirely inside rs.
func (rs Resources) Contains(other Resources) bool {
	for i, o := range other {
		if o.empty() || slices.ContainsFunc(other[:i], func(p Resource) bool { return sameKey(p, o) }) {
			continue // an earlier entry of the same key has checked them all
		}
		switch o.Type {
		case Scalar:
			var need, have int64
			for _, x := range other {
				if sameKey(x, o) {
					need += max(0, x.millis())
				}
			}
			for _, x := range rs {
				if sameKey(x, o) {
					have += max(0, x.millis())
				}
			}
			if have < need || o.IsMount() && have != need {
				return false // a MOUNT disk is taken whole or not at all
			}
		case Ranges:
			var have []Range
			n := 0
			for _, x := range rs {
				if sameKey(x, o) && x.Ranges != nil {
					if n++; n == 1 {
						have = x.Ranges.Range // usually the only one: no copy
					} else {
						have = append(slices.Clip(have), x.Ranges.Range...)
					}
				}
			}
			if !coalesced(have) {
				have = coalesce(have)
			}
			for _, x := range other {
				if sameKey(x, o) && x.Ranges != nil && !rangesCover(have, x.Ranges.Range) {
					return false
				}
			}
		case Set:
			for _, x := range other {
				if !sameKey(x, o) || x.Set == nil {
					continue
				}
				for _, it := range x.Set.Item {
					if !slices.ContainsFunc(rs, func(h Resource) bool {
						return sameKey(h, o) && h.Set != nil && slices.Contains(h.Set.Item, it)
					}) {
						return false
					}
				}
			}
		}
	}
	return true
}

// Equal reports whether rs and other hold the same resources, whatever the
// order of entries, range pieces or set items.
func (rs Resources) Equal(other Resources) bool {
	return rs.Contains(other) && other.Contains(rs)
}

// Filter returns the entries of rs for which keep is true, in normal form.
func (rs Resources) Filter(keep func(Resource) bool) Resources {
	var out Resources
	for _, r := range rs.Add(nil) {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func (rs Resources) compact() Resources {
	i := slices.IndexFunc(rs, Resource.empty)
	if i < 0 {
		if len(rs) == 0 {
			return nil
		}
		return rs
	}
	out := rs[:i]
	for _, r := range rs[i+1:] {
		if !r.empty() {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Scalar returns the total of the named scalar resource over all roles.
func (rs Resources) Scalar(name string) float64 {
	var m int64
	for _, r := range rs {
		if r.Name == name && r.Type == Scalar {
			m += max(0, r.millis())
		}
	}
	return fromMillis(m)
}

// RangesOf returns the named range resource's ranges over all roles.
func (rs Resources) RangesOf(name string) []Range {
	var out []Range
	for _, r := range rs {
		if r.Name == name && r.Type == Ranges && r.Ranges != nil {
			out = append(out, r.Ranges.Range...)
		}
	}
	return coalesce(out)
}

// Summary is the Mesos "resources" object in /state: scalars as numbers,
// ranges as "[a-b, c-d]" strings and sets as "{a, b}" strings (items
// sorted), summed over roles. cpus, mem, disk and gpus are always present.
func (rs Resources) Summary() map[string]any {
	out := map[string]any{"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
	sets := map[string][]string{}
	for _, r := range rs.Add(nil) {
		switch r.Type {
		case Scalar:
			out[r.Name] = rs.Scalar(r.Name)
		case Ranges:
			out[r.Name] = formatRanges(rs.RangesOf(r.Name))
		case Set:
			sets[r.Name] = unionItems(sets[r.Name], r.Set.Item)
			out[r.Name] = "{" + strings.Join(slices.Sorted(slices.Values(sets[r.Name])), ", ") + "}"
		}
	}
	return out
}

func formatRanges(rs []Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d-%d", r.Begin, r.End)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// String renders rs in the Mesos text syntax that ParseResources reads.
func (rs Resources) String() string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		name := r.Name
		if role := normRole(r.Role); role != "*" {
			name += "(" + role + ")"
		}
		name += r.Source().sourceText()
		switch r.Type {
		case Scalar:
			parts = append(parts, name+":"+strconv.FormatFloat(fromMillis(r.millis()), 'f', -1, 64))
		case Ranges:
			var rg []Range
			if r.Ranges != nil {
				rg = r.Ranges.Range
			}
			parts = append(parts, name+":"+strings.ReplaceAll(formatRanges(rg), " ", ""))
		case Set:
			var items []string
			if r.Set != nil {
				items = r.Set.Item
			}
			parts = append(parts, name+":{"+strings.Join(items, ",")+"}")
		}
	}
	return strings.Join(parts, ";")
}

// ScalarResource is a convenience constructor for an unreserved scalar.
func ScalarResource(name string, v float64) Resource {
	return Resource{Name: name, Type: Scalar, Scalar: &ScalarVal{Value: roundScalar(v)}, Role: "*"}
}

// RangesResource is a convenience constructor for unreserved ranges.
func RangesResource(name string, rs ...Range) Resource {
	return Resource{Name: name, Type: Ranges, Ranges: &RangesVal{Range: coalesce(rs)}, Role: "*"}
}

// SetResource is a convenience constructor for an unreserved set.
func SetResource(name string, items ...string) Resource {
	return Resource{Name: name, Type: Set, Set: &SetVal{Item: unionItems(nil, items)}, Role: "*"}
}
