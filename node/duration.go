package node

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mesosUnits are the duration suffixes Mesos flags use ("15secs", "1mins").
var mesosUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"weeks", 7 * 24 * time.Hour}, {"days", 24 * time.Hour}, {"hrs", time.Hour},
	{"mins", time.Minute}, {"secs", time.Second}, {"ms", time.Millisecond},
	{"us", time.Microsecond}, {"ns", time.Nanosecond},
}

// parseDuration accepts Go durations ("1m30s") and Mesos ones ("15secs").
func parseDuration(s string) (time.Duration, error) {
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

// durationFlag is a cli.Generic holding a duration in either syntax.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	f.d = d
	return nil
}

func (f *durationFlag) String() string { return f.d.String() }

// Get makes durationFlag a flag.Getter.
func (f *durationFlag) Get() any { return f.d }
