package mesospb

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

var update = flag.Bool("update", false, "rewrite descriptors.binpb from proto/")

// compileSet compiles proto/'s files with protocompile (a pure-Go
// compiler) into a FileDescriptorSet: every file once, a file after the
// files it imports, as protoc's --include_imports writes it.
func compileSet(t *testing.T) []byte {
	t.Helper()
	root := os.DirFS("proto")
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{
		Accessor: func(path string) (io.ReadCloser, error) { return root.Open(path) },
	}}
	files, err := c.Compile(context.Background(), protoFiles...)
	if err != nil {
		t.Fatalf("compile proto/: %v", err)
	}
	var set descriptorpb.FileDescriptorSet
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		for i := 0; i < f.Imports().Len(); i++ {
			add(f.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	for _, f := range files {
		add(f)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The compiled descriptors the binary carries are proto/'s files as they
// are now.
func TestDescriptorsUpToDate(t *testing.T) {
	want := compileSet(t)
	if *update {
		if err := os.WriteFile("descriptors.binpb", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(descriptorSet, want) {
		t.Fatalf("descriptors.binpb (%d bytes) is not proto/ compiled (%d bytes): run go test ./cluster/api/mesospb -run TestDescriptorsUpToDate -update", len(descriptorSet), len(want))
	}
	all, err := descriptors()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{SchedulerCall, SchedulerEvent, OperatorCall, OperatorResponse, OperatorEvent, AgentCall, AgentResponse, ExecutorCall, ExecutorEvent} {
		if _, ok := all[protoreflect.FullName(name)]; !ok {
			t.Errorf("no descriptor for %s", name)
		}
	}
}
