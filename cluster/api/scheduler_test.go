package api

import (
	"encoding/json"
	"testing"
)

// SUBSCRIBED's master_info has Mesos' MasterInfo shape: ip a uint32
// (127.0.0.1 is 16777343 = 0x0100007F, the in_addr bytes 7F 00 00 01 read
// little-endian, as a Mesos master on x86 sends it), address the strings.
func TestMasterInfoMesosForm(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want uint32
	}{{"127.0.0.1", 16777343}, {"10.0.0.7", 0x0700000A}, {"::ffff:192.168.1.2", 0x0201A8C0}, {"fe80::1", 0}, {"", 0}} {
		mi := MasterInfo{ID: "m1", PID: "master@" + tc.ip + ":5050", Hostname: "h", IP: tc.ip, Port: 5050, Version: "v"}.Mesos()
		if mi.IP != tc.want || mi.Address == nil || mi.Address.IP != tc.ip || mi.Address.Port != 5050 || mi.Address.Hostname != "h" || mi.Port != 5050 {
			t.Errorf("%q: %+v address %+v, want ip %d", tc.ip, mi, mi.Address, tc.want)
		}
	}
	mi := MasterInfo{ID: "m1", Hostname: "h", IP: "127.0.0.1", Port: 5050}.Mesos()
	b, err := json.Marshal(SubscribedEvent{FrameworkID: ID{Value: "f"}, MasterInfo: &mi})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"framework_id":{"value":"f"},"heartbeat_interval_seconds":0,"master_info":{"id":"m1","ip":16777343,"port":5050,"hostname":"h","version":"1.11.0","address":{"hostname":"h","ip":"127.0.0.1","port":5050},"capabilities":[]}}`
	if string(b) != want {
		t.Errorf("SUBSCRIBED JSON:\n%s\nwant\n%s", b, want)
	}
}
