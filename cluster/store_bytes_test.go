package cluster

import (
	"fmt"
	"testing"
)

// TestChunkOpsBytes: a batch whose records add up to more than etcd takes
// in one request is split, in order, under maxTxnBytes each.
func TestChunkOpsBytes(t *testing.T) {
	big := make([]byte, 100<<10)
	var ops []op
	for i := range 40 { // 4 MB in all, far under maxTxnOps
		ops = append(ops, op{kind: opPut, key: fmt.Sprintf("/t/%02d", i), enc: big})
	}
	chunks := chunkOps(ops)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks for 4 MB, want at least 3", len(chunks))
	}
	n := 0
	for _, c := range chunks {
		size := 0
		for _, o := range c {
			if o.key != ops[n].key {
				t.Fatalf("op %d is %s, want %s: order lost", n, o.key, ops[n].key)
			}
			size += len(o.key) + len(o.enc)
			n++
		}
		if size > maxTxnBytes {
			t.Errorf("chunk of %d bytes, more than %d", size, maxTxnBytes)
		}
	}
	if n != len(ops) {
		t.Errorf("%d ops in chunks, want %d", n, len(ops))
	}
}
