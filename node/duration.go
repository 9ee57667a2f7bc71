package node

import (
	"time"

	"nodectl/cluster/api"
)

// parseDuration accepts Go durations ("1m30s") and Mesos ones ("15secs").
func parseDuration(s string) (time.Duration, error) { return api.ParseDuration(s) }

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
