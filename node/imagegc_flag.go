package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/runtime"
)

// imageGCFlag is Mesos' agent flag --image_gc_config
// (docs/container-image.md, "Automatic Image GC through Agent Flag";
// the ImageGcConfig message of Mesos' src/messages/flags.proto): a JSON
// object, inline or in a file (a path, or file:///path). Without it the
// agent still removes unused image layers by age (runtime/imagegc.go).
func imageGCFlag() cli.Flag {
	return &cli.StringFlag{Name: "image-gc-config", Aliases: []string{"image_gc_config"},
		Usage:   `agent: Mesos' image GC config, JSON or a file holding it: {"image_disk_headroom": 0.1, "image_disk_watch_interval": {"nanoseconds": 3600000000000}, "excluded_images": [{"type": "DOCKER", "docker": {"name": "busybox:1"}}]}; above 1 − image_disk_headroom disk usage, images no container uses are pruned (unset: unused layers still go after --gc-delay)`,
		EnvVars: []string{envName("image-gc-config")}}
}

// parseImageGCConfig reads --image_gc_config. Both of Mesos' required
// fields must be there; unknown fields and image types other than DOCKER
// (the only store nodectl has) are refused.
func parseImageGCConfig(v string) (runtime.ImageGCConfig, error) {
	var out runtime.ImageGCConfig
	v = strings.TrimSpace(v)
	if v == "" {
		return out, nil
	}
	bad := func(format string, args ...any) (runtime.ImageGCConfig, error) {
		return runtime.ImageGCConfig{}, fmt.Errorf("%w: --image-gc-config: "+format, append([]any{ErrConfig}, args...)...)
	}
	if !strings.HasPrefix(v, "{") {
		b, err := os.ReadFile(strings.TrimPrefix(v, "file://"))
		if err != nil {
			return bad("not a JSON object, and not a readable file: %v", err)
		}
		v = string(b)
	}
	var raw struct {
		Headroom *float64 `json:"image_disk_headroom"`
		Interval *struct {
			Nanoseconds int64 `json:"nanoseconds"`
		} `json:"image_disk_watch_interval"`
		Excluded []struct {
			Type   string `json:"type"`
			Docker *struct {
				Name string `json:"name"`
			} `json:"docker"`
		} `json:"excluded_images"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return bad("%v", err)
	}
	switch {
	case raw.Headroom == nil:
		return bad("image_disk_headroom is required")
	case *raw.Headroom < 0 || *raw.Headroom > 1:
		return bad("image_disk_headroom %v is not in [0, 1]", *raw.Headroom)
	case raw.Interval == nil:
		return bad("image_disk_watch_interval is required")
	case raw.Interval.Nanoseconds <= 0:
		return bad("image_disk_watch_interval must be positive")
	}
	out = runtime.ImageGCConfig{Enabled: true, DiskHeadroom: *raw.Headroom, DiskWatchInterval: time.Duration(raw.Interval.Nanoseconds)}
	for i, img := range raw.Excluded {
		if img.Type != "DOCKER" || img.Docker == nil || img.Docker.Name == "" {
			return bad("excluded_images[%d]: only DOCKER images with docker.name are stored by nodectl (got type %q)", i, img.Type)
		}
		out.ExcludedImages = append(out.ExcludedImages, img.Docker.Name)
	}
	return out, nil
}
