package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimits is Mesos' --rate_limits (docs/configuration/master.md,
// include/mesos/mesos.proto RateLimits): a qps and capacity per principal,
// and an aggregate shared by every principal not listed. nodectl applies
// them to every authenticated request of the principal; over the limit
// is 429 with Retry-After.
type RateLimits struct {
	limits    map[string]*rate.Limiter
	aggregate *rate.Limiter // nil: unlisted principals are not limited
}

// ParseRateLimits reads --rate_limits: inline JSON, file:///path or /path.
func ParseRateLimits(flag string) (*RateLimits, error) {
	b, err := flagBytes(flag)
	if err != nil || b == nil {
		return nil, err
	}
	var f struct {
		Limits []struct {
			Principal string   `json:"principal"`
			QPS       *float64 `json:"qps"`
			Capacity  *uint64  `json:"capacity"`
		} `json:"limits"`
		AggregateQPS      *float64 `json:"aggregate_default_qps"`
		AggregateCapacity *uint64  `json:"aggregate_default_capacity"`
	}
	if err := strictJSON(b, &f); err != nil {
		return nil, fmt.Errorf("%w: --rate_limits: %w", ErrConfig, err)
	}
	rl := &RateLimits{limits: map[string]*rate.Limiter{}}
	for i, l := range f.Limits {
		if l.Principal == "" {
			return nil, fmt.Errorf("%w: --rate_limits: limits[%d] has no principal", ErrConfig, i)
		}
		rl.limits[l.Principal] = limiter(l.QPS, l.Capacity)
	}
	if f.AggregateQPS != nil {
		rl.aggregate = limiter(f.AggregateQPS, f.AggregateCapacity)
	}
	return rl, nil
}

// limiter: no qps is unlimited (Mesos: a principal listed without qps is
// not throttled); capacity is the burst (default: one second's worth).
func limiter(qps *float64, capacity *uint64) *rate.Limiter {
	if qps == nil || *qps <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	burst := int(math.Ceil(*qps))
	if capacity != nil && *capacity > 0 {
		burst = int(min(*capacity, 1<<20))
	}
	return rate.NewLimiter(rate.Limit(*qps), max(burst, 1))
}

// allow takes one request of principal; when over, the wait to suggest.
func (rl *RateLimits) allow(principal string) (bool, time.Duration) {
	if rl == nil {
		return true, 0
	}
	l, ok := rl.limits[principal]
	if !ok {
		l = rl.aggregate
	}
	if l == nil {
		return true, 0
	}
	return take(l)
}

func take(l *rate.Limiter) (bool, time.Duration) {
	r := l.Reserve()
	if !r.OK() {
		return false, time.Second
	}
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d
	}
	return true, 0
}

// failures limits credential attempts per client address: a wrong
// secret and an unknown principal cost the same, and a client that keeps
// guessing is refused before its guesses are checked.
type failures struct {
	mu sync.Mutex
	by map[string]*rate.Limiter // remote IP → attempts left; guarded by mu
}

const (
	failureRate  = 2  // per second, refilled
	failureBurst = 20 // attempts before the limit bites
)

// blocked reports whether ip has no failed attempts left.
func (f *failures) blocked(ip string) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.by[ip]
	if l == nil || l.Tokens() >= 1 {
		return false, 0
	}
	return true, time.Duration(float64(time.Second) / failureRate)
}

// failed records a failed attempt from ip.
func (f *failures) failed(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.by == nil || len(f.by) > 10000 { // bounded
		f.by = map[string]*rate.Limiter{}
	}
	l := f.by[ip]
	if l == nil {
		l = rate.NewLimiter(failureRate, failureBurst)
		f.by[ip] = l
	}
	l.Allow()
}

func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(d, time.Second).Seconds()))))
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
