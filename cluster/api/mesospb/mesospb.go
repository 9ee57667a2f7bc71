// Package mesospb is the application/x-protobuf codec of nodectl's Mesos
// v1 APIs (scheduler and operator). It translates at the edge: a protobuf
// call becomes the Mesos JSON the handlers already read, and the JSON they
// write becomes protobuf, so the handlers speak one format.
//
// The messages are nodectl's own .proto files under proto/ (numbered as
// Mesos' include/mesos/v1/*.proto, declaring only what nodectl reads or
// writes), used through dynamic messages
// (google.golang.org/protobuf/types/dynamicpb). A protobuf field nodectl
// does not declare is refused with its number, never dropped. The binary
// carries them compiled, as a FileDescriptorSet (descriptors.binpb, which
// TestDescriptorsUpToDate compiles again from proto/ with a pure-Go
// compiler and compares; `go test ./cluster/api/mesospb -run
// TestDescriptorsUpToDate -update` rewrites it): no compiler in the
// binary, whose package initialisation every nodectl process paid for.
//
// JSON here is Mesos' JSON mapping (Mesos' src/common/http.cpp and
// stout's protobuf JSON): proto field names, enum values by name, 64-bit
// integers as numbers, bytes in standard base64.
//
// This package imports no other nodectl package.
package mesospb

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Media types of the Mesos v1 HTTP APIs.
const (
	MediaProtobuf = "application/x-protobuf"
	MediaJSON     = "application/json"
	MediaRecordIO = "application/recordio"
)

// Message names nodectl encodes and decodes.
const (
	SchedulerCall    = "mesos.v1.scheduler.Call"
	SchedulerEvent   = "mesos.v1.scheduler.Event"
	OperatorCall     = "mesos.v1.master.Call"
	OperatorResponse = "mesos.v1.master.Response"
	OperatorEvent    = "mesos.v1.master.Event"
	AgentCall        = "mesos.v1.agent.Call"
	AgentResponse    = "mesos.v1.agent.Response"
	ExecutorCall     = "mesos.v1.executor.Call"
	ExecutorEvent    = "mesos.v1.executor.Event"
)

// descriptorSet is proto/'s files compiled (protoFiles and what they
// import), a serialised google.protobuf.FileDescriptorSet.
//
//go:embed descriptors.binpb
var descriptorSet []byte

// protoFiles are the files descriptorSet is compiled from, under proto/.
var protoFiles = []string{
	"mesos/v1/mesos.proto",
	"mesos/v1/scheduler/scheduler.proto",
	"mesos/v1/quota/quota.proto",
	"mesos/v1/allocator/allocator.proto",
	"mesos/v1/maintenance/maintenance.proto",
	"mesos/v1/master/master.proto",
	"mesos/v1/agent/agent.proto",
	"mesos/v1/executor/executor.proto",
}

// descriptors builds the message descriptors of descriptorSet once.
var descriptors = sync.OnceValues(func() (map[protoreflect.FullName]protoreflect.MessageDescriptor, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(descriptorSet, &set); err != nil {
		return nil, fmt.Errorf("mesos descriptors: %w", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("mesos descriptors: %w", err)
	}
	out := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	files.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		collect(f.Messages(), out)
		return true
	})
	return out, nil
})

func collect(ms protoreflect.MessageDescriptors, out map[protoreflect.FullName]protoreflect.MessageDescriptor) {
	for i := 0; i < ms.Len(); i++ {
		m := ms.Get(i)
		out[m.FullName()] = m
		collect(m.Messages(), out)
	}
}

// Descriptor is the descriptor of the named message (e.g. SchedulerCall).
func Descriptor(name string) (protoreflect.MessageDescriptor, error) {
	all, err := descriptors()
	if err != nil {
		return nil, err
	}
	md, ok := all[protoreflect.FullName(name)]
	if !ok {
		return nil, fmt.Errorf("no message %s", name)
	}
	return md, nil
}

// ErrUnsupported wraps an error about input nodectl cannot take: a field
// it does not declare, malformed bytes, a missing required field.
var ErrUnsupported = errors.New("unsupported protobuf input")

// ToJSON decodes b as the named message and returns it in Mesos' JSON
// form. A field (or enum value) the .proto files do not declare is an
// error naming its number and message, as is a missing required field.
func ToJSON(name string, b []byte) ([]byte, error) {
	md, err := Descriptor(name)
	if err != nil {
		return nil, err
	}
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(b, msg); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %v", ErrUnsupported, name, err)
	}
	if err := checkUnknown(msg); err != nil {
		return nil, err
	}
	return json.Marshal(jsonOf(msg))
}

// checkUnknown refuses fields the descriptor does not declare, anywhere
// in m. proto2 enums are closed, so an unknown enum value lands here too.
func checkUnknown(m protoreflect.Message) error {
	if raw := m.GetUnknown(); len(raw) > 0 {
		num, _, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return fmt.Errorf("%w: %s: malformed unknown field", ErrUnsupported, m.Descriptor().FullName())
		}
		if fd := m.Descriptor().Fields().ByNumber(num); fd != nil {
			return fmt.Errorf("%w: %s (field %d): a value nodectl does not know", ErrUnsupported, fd.FullName(), num)
		}
		return fmt.Errorf("%w: field %d of %s is not supported by nodectl", ErrUnsupported, num, m.Descriptor().FullName())
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.EnumKind {
			// dynamicpb keeps an undeclared value of a proto2 enum in the
			// field rather than among the unknown fields.
			vals := []protoreflect.Value{v}
			if fd.IsList() {
				vals = vals[:0]
				for i := 0; i < v.List().Len(); i++ {
					vals = append(vals, v.List().Get(i))
				}
			}
			for _, x := range vals {
				if fd.Enum().Values().ByNumber(x.Enum()) == nil {
					err = fmt.Errorf("%w: %s (field %d): value %d is not one nodectl knows", ErrUnsupported, fd.FullName(), fd.Number(), x.Enum())
					return false
				}
			}
			return true
		}
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = checkUnknown(l.Get(i).Message())
			}
		} else if !fd.IsMap() {
			err = checkUnknown(v.Message())
		}
		return err == nil
	})
	return err
}

// jsonOf is m as a JSON value tree: set fields only, by proto name.
func jsonOf(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsList() {
			l := v.List()
			vs := make([]any, l.Len())
			for i := range vs {
				vs[i] = scalarJSON(fd, l.Get(i))
			}
			out[string(fd.Name())] = vs
			return true
		}
		out[string(fd.Name())] = scalarJSON(fd, v)
		return true
	})
	return out
}

func scalarJSON(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return jsonOf(v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int32(v.Enum())
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no such numbers; Mesos' JSON writes them as strings.
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return f
	default:
		return v.Interface() // bool, string, the integers (JSON numbers)
	}
}

// FromJSON encodes Mesos JSON as the named message. Every JSON field must
// be declared, except one whose value is null or empty ([] or {}): that
// carries nothing to lose.
func FromJSON(name string, js []byte) ([]byte, error) {
	md, err := Descriptor(name)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	msg := dynamicpb.NewMessage(md)
	if err := fill(msg, tree); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// fill sets m's fields from a JSON object.
func fill(m protoreflect.Message, obj map[string]any) error {
	fields := m.Descriptor().Fields()
	for k, v := range obj {
		fd := fields.ByName(protoreflect.Name(k))
		if fd == nil {
			fd = fields.ByJSONName(k)
		}
		if fd == nil {
			if empty(v) {
				continue
			}
			return fmt.Errorf("%s has no field %q", m.Descriptor().FullName(), k)
		}
		if v == nil {
			continue
		}
		if fd.IsMap() {
			return fmt.Errorf("%s: map fields are not supported", fd.FullName())
		}
		if fd.IsList() {
			arr, ok := v.([]any)
			if !ok {
				return fmt.Errorf("%s: want an array, got %T", fd.FullName(), v)
			}
			l := m.Mutable(fd).List()
			for _, x := range arr {
				pv, err := value(fd, x, l.NewElement)
				if err != nil {
					return err
				}
				l.Append(pv)
			}
			continue
		}
		pv, err := value(fd, v, func() protoreflect.Value { return m.NewField(fd) })
		if err != nil {
			return err
		}
		m.Set(fd, pv)
	}
	return nil
}

// value converts one JSON value of field fd; newMsg makes an empty
// message value for message fields.
func value(fd protoreflect.FieldDescriptor, v any, newMsg func() protoreflect.Value) (protoreflect.Value, error) {
	bad := func() (protoreflect.Value, error) {
		return protoreflect.Value{}, fmt.Errorf("%s: cannot take %v (%T)", fd.FullName(), v, v)
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		obj, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		nv := newMsg()
		if err := fill(nv.Message(), obj); err != nil {
			return protoreflect.Value{}, err
		}
		return nv, nil
	case protoreflect.StringKind:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.BytesKind:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if b, err = base64.URLEncoding.DecodeString(s); err != nil {
				return protoreflect.Value{}, fmt.Errorf("%s: not base64: %w", fd.FullName(), err)
			}
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.EnumKind:
		switch x := v.(type) {
		case string:
			ev := fd.Enum().Values().ByName(protoreflect.Name(x))
			if ev == nil {
				return protoreflect.Value{}, fmt.Errorf("%s: no enum value %q", fd.FullName(), x)
			}
			return protoreflect.ValueOfEnum(ev.Number()), nil
		case json.Number:
			n, err := strconv.ParseInt(string(x), 10, 32)
			if err != nil || fd.Enum().Values().ByNumber(protoreflect.EnumNumber(n)) == nil {
				return protoreflect.Value{}, fmt.Errorf("%s: no enum value %s", fd.FullName(), x)
			}
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
		}
		return bad()
	}
	// Numbers: JSON numbers, or strings holding one (as proto3 JSON writes
	// 64-bit integers).
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = x
	default:
		return bad()
	}
	switch fd.Kind() {
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := parseInt(s, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := parseInt(s, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := parseUint(s, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := parseUint(s, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		return protoreflect.ValueOfUint64(n), nil
	}
	return bad()
}

// parseInt takes an integer, also written as a float with no fraction
// (1e3, 5.0).
func parseInt(s string, bits int) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, bits); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < -math.Exp2(float64(bits-1)) || f >= math.Exp2(float64(bits-1)) {
		return 0, fmt.Errorf("%q is not a %d-bit integer", s, bits)
	}
	return int64(f), nil
}

func parseUint(s string, bits int) (uint64, error) {
	if n, err := strconv.ParseUint(s, 10, bits); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f >= math.Exp2(float64(bits)) {
		return 0, fmt.Errorf("%q is not an unsigned %d-bit integer", s, bits)
	}
	return uint64(f), nil
}
