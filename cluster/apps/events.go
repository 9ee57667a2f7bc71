package apps

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Event bus behind GET /v2/events (Marathon's event stream, SSE).
//
// Events are published under the apps lock, so publishing never blocks: each
// subscriber has a bounded buffer, and one that falls behind by more than
// that is dropped (its stream ends; it reconnects).

var (
	// eventBuffer is how many events a subscriber may be behind.
	eventBuffer = 1024
	// eventHeartbeat is the pace of the ": heartbeat" comments.
	eventHeartbeat = 15 * time.Second
)

// busEvent is one published event, already encoded.
type busEvent struct {
	typ  string
	data []byte
	apps []string // the apps it is about (eventApps)
}

type subscriber struct {
	ch      chan busEvent
	types   map[string]bool // empty: all
	dropped chan struct{}   // closed when the bus gave up on it
}

type eventBus struct {
	mu   sync.Mutex // guards subs
	subs map[*subscriber]bool
}

func newEventBus() *eventBus { return &eventBus{subs: map[*subscriber]bool{}} }

func (b *eventBus) subscribe(types []string) *subscriber {
	s := &subscriber{ch: make(chan busEvent, eventBuffer), types: map[string]bool{}, dropped: make(chan struct{})}
	for _, t := range types {
		if t != "" {
			s.types[t] = true
		}
	}
	b.mu.Lock()
	b.subs[s] = true
	b.mu.Unlock()
	return s
}

func (b *eventBus) unsubscribe(s *subscriber) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}

// count is the number of subscribers (for tests).
func (b *eventBus) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *eventBus) publish(ev busEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if len(s.types) > 0 && !s.types[ev.typ] {
			continue
		}
		select {
		case s.ch <- ev:
		default: // too slow: drop it
			delete(b.subs, s)
			close(s.dropped)
		}
	}
}

// publishLocked sends a Marathon event: fields plus eventType and timestamp.
func (a *Apps) publishLocked(typ string, fields map[string]any) {
	if a.bus.count() == 0 {
		return
	}
	fields["eventType"] = typ
	fields["event_type"] = typ
	fields["timestamp"] = formatTime(a.cfg.Now())
	b, err := json.Marshal(fields)
	if err != nil {
		a.log.Warn("encode event", "type", typ, "err", err)
		return
	}
	a.bus.publish(busEvent{typ: typ, data: b, apps: eventApps(fields)})
}

// handleEvents serves GET /v2/events as text/event-stream:
// "event: <type>\ndata: <json>\n\n" per event, ": heartbeat" comments in
// between; ?event_type= (repeatable) filters.
func (a *Apps) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeMessage(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	types := r.URL.Query()["event_type"]
	s := a.bus.subscribe(types)
	defer a.bus.unsubscribe(s)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	attached := map[string]any{"remoteAddress": r.RemoteAddr}
	a.mu.Lock()
	a.publishLocked("event_stream_attached", attached)
	a.mu.Unlock()
	fl.Flush()
	hb := time.NewTicker(eventHeartbeat)
	defer hb.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.dropped:
			// Drain what is buffered, then end: the client reconnects.
			for {
				select {
				case ev := <-s.ch:
					if !a.eventVisible(r, ev) {
						continue
					}
					if writeEvent(w, ev) != nil {
						return
					}
				default:
					_, _ = fmt.Fprint(w, ": dropped: too slow\n\n")
					fl.Flush()
					return
				}
			}
		case ev := <-s.ch:
			if !a.eventVisible(r, ev) {
				continue
			}
			if writeEvent(w, ev) != nil {
				return
			}
			fl.Flush()
		case <-hb.C:
			if !a.cfg.IsLeader() {
				return // the new leader has the stream now
			}
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, ev busEvent) error {
	_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.typ, ev.data)
	return err
}
