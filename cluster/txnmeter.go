package cluster

import (
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TxnMeter counts the etcd write transactions of one writer (the master's
// state, the built-in apps framework's): how many, how many operations
// they carried, and the bytes of their keys and values. Each one is a
// Raft proposal and an fsync of the WAL on every member, so the count (not
// the wall time, which a loaded machine stretches) is what batching cuts:
// /metrics/snapshot shows it as master/etcd_write_txns and friends.
type TxnMeter struct {
	txns, ops, bytes atomic.Uint64
}

// Record counts one transaction of ops. A nil meter counts nothing.
func (t *TxnMeter) Record(ops []clientv3.Op) {
	if t == nil {
		return
	}
	n := 0
	for _, o := range ops {
		n += len(o.KeyBytes()) + len(o.ValueBytes())
	}
	t.txns.Add(1)
	t.ops.Add(uint64(len(ops)))
	t.bytes.Add(uint64(n))
}

// Txns, Ops and Bytes read the counts.
func (t *TxnMeter) Txns() uint64  { return t.txns.Load() }
func (t *TxnMeter) Ops() uint64   { return t.ops.Load() }
func (t *TxnMeter) Bytes() uint64 { return t.bytes.Load() }

// AppsTxnMeter is the meter the built-in apps framework records its
// writes in (apps.Config.TxnMeter), shown beside the master's own.
func (m *Master) AppsTxnMeter() *TxnMeter { return &m.appsTxns }

// registerTxnMeters exposes both meters in mt.
func (m *Master) registerTxnMeters(gauge func(name, help string, f func() float64)) {
	for _, x := range []struct {
		who string
		t   *TxnMeter
	}{{"master", &m.storeTxns}, {"apps", &m.appsTxns}} {
		t := x.t
		gauge("master/etcd_write_txns_"+x.who, "etcd write transactions of the "+x.who+" state (each a Raft proposal and WAL fsync)", func() float64 { return float64(t.Txns()) })
		gauge("master/etcd_write_ops_"+x.who, "operations in the "+x.who+" state's etcd write transactions", func() float64 { return float64(t.Ops()) })
		gauge("master/etcd_write_bytes_"+x.who, "bytes (keys and values) of the "+x.who+" state's etcd write transactions", func() float64 { return float64(t.Bytes()) })
	}
}
