package cluster

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"nodectl/cluster/api"
)

// ErrBadFlag is wrapped by errors parsing the Mesos-syntax settings of
// Config (rate limits, percentages).
var ErrBadFlag = errors.New("bad flag value")

// RateLimit is a Mesos rate ("1/10mins": Permits per Per). The zero value
// is no limit.
type RateLimit struct {
	Permits int
	Per     time.Duration
}

// Limited reports whether r limits anything.
func (r RateLimit) Limited() bool { return r.Permits > 0 && r.Per > 0 }

// Interval is the time between two permits, as the libprocess
// RateLimiter spaces them.
func (r RateLimit) Interval() time.Duration {
	if !r.Limited() {
		return 0
	}
	return r.Per / time.Duration(r.Permits)
}

func (r RateLimit) String() string {
	if !r.Limited() {
		return ""
	}
	return fmt.Sprintf("%d/%s", r.Permits, r.Per)
}

// ParseRateLimit parses Mesos --agent_removal_rate_limit: "<permits>/<duration>"
// such as "1/10mins" or "2/1m". Empty means no limit.
func ParseRateLimit(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return RateLimit{}, nil
	}
	num, per, ok := strings.Cut(s, "/")
	if !ok {
		return RateLimit{}, fmt.Errorf("%w: rate %q: want <permits>/<duration>, e.g. 1/10mins", ErrBadFlag, s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n <= 0 {
		return RateLimit{}, fmt.Errorf("%w: rate %q: permits must be a positive integer", ErrBadFlag, s)
	}
	d, err := parseMesosDuration(per)
	if err != nil || d <= 0 {
		return RateLimit{}, fmt.Errorf("%w: rate %q: duration must be positive (e.g. 10mins)", ErrBadFlag, s)
	}
	return RateLimit{Permits: n, Per: d}, nil
}

// ParsePercentage parses Mesos percentages ("100%", "12.5%"; the % sign
// is optional) into a fraction in [0, 1].
func ParsePercentage(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 || f > 100 {
		return 0, fmt.Errorf("%w: percentage %q: want 0%% to 100%%", ErrBadFlag, s)
	}
	return f / 100, nil
}

// parseMesosDuration accepts Go ("10m") and Mesos ("10mins") durations.
func parseMesosDuration(s string) (time.Duration, error) {
	d, err := api.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadFlag, err)
	}
	return d, nil
}
