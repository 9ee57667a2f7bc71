package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mesosUnits are the duration suffixes Mesos flags use ("15secs", "10mins").
var mesosUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"weeks", 7 * 24 * time.Hour}, {"days", 24 * time.Hour}, {"hrs", time.Hour},
	{"mins", time.Minute}, {"secs", time.Second}, {"ms", time.Millisecond},
	{"us", time.Microsecond}, {"ns", time.Nanosecond},
}

// ParseDuration accepts Go durations ("1m30s") and Mesos ones ("15secs").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	for _, u := range mesosUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 {
				break
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("%q is not a duration (examples: 15s, 1m30s, 15secs, 2mins)", s)
}
