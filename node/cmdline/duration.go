package cmdline

import (
	"time"

	"nodectl/cluster/api"
)

// parseDuration accepts Go durations ("1m30s") and Mesos ones ("15secs").
func parseDuration(s string) (time.Duration, error) { return api.ParseDuration(s) }

// DurationFlag is a cli.Generic holding a duration in either syntax.
type DurationFlag struct{ D time.Duration }

type durationFlag = DurationFlag

func (f *DurationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	f.D = d
	return nil
}

func (f *DurationFlag) String() string { return f.D.String() }

// Get makes DurationFlag a flag.Getter.
func (f *DurationFlag) Get() any { return f.D }
