package apps

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkOfferManyApps: one offer that fits nothing, handled by a
// framework running 200 apps of 20 tasks each. Each offer asks every app
// for its tasks (what to launch, the spread); that used to scan all 4,000
// tasks per app, 800,000 visits per offer (tasksOfLocked now reads an
// index by app).
func BenchmarkOfferManyApps(b *testing.B) {
	h := newHarness(b)
	h.a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	const apps, per = 200, 20
	for i := range apps {
		if code := h.do("POST", "/v2/apps", fmt.Sprintf(`{"id":"/many/a%03d","cmd":"sleep 1000","instances":%d,"cpus":0.01,"mem":1,"portDefinitions":[]}`, i, per), nil); code != 201 {
			b.Fatalf("create app %d: %d", i, code)
		}
	}
	for len(h.fake.launched()) < apps*per {
		before := len(h.fake.launched())
		h.offerFrom(fmt.Sprint("h", before), "cpus:100;mem:100000;disk:1000")
		if len(h.fake.launched()) == before {
			b.Fatalf("placement stalled at %d tasks", before)
		}
	}
	h.runAll()
	b.ResetTimer()
	for b.Loop() {
		h.offerFrom("small", "cpus:0.001;mem:0.1")
	}
}
