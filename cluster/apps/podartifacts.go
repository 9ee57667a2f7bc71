package apps

import (
	"fmt"
	"path"
	"strings"

	"nodectl/cluster/api"
)

// A pod container's artifacts (Marathon types/artifact.raml: uri,
// extract, executable, cache, destPath) are fetched into the container's
// sandbox by the agent's Mesos fetcher (runtime/fetcher.go) before it
// starts, as an app's fetch; image.forcePull pulls the container's image
// again even when the agent has it (Mesos Image.cached false).

// validateArtifacts checks one container's artifacts.
func validateArtifacts(at string, c PodContainer) []Detail {
	var ds []Detail
	for i, f := range c.Artifacts {
		p := fmt.Sprintf("%s/artifacts/%d", at, i)
		if strings.TrimSpace(f.URI) == "" {
			ds = append(ds, Detail{Path: p + "/uri", Errors: []string{"an artifact needs a uri"}})
		}
		if d := f.DestPath; d != "" && (path.IsAbs(d) || path.Clean(d) == ".." || strings.HasPrefix(path.Clean(d), "../")) {
			ds = append(ds, Detail{Path: p + "/destPath", Errors: []string{"must be a relative path inside the sandbox"}})
		}
	}
	return ds
}

// podArtifacts are a container's artifacts as Mesos CommandInfo.URIs.
func podArtifacts(c PodContainer) []api.CommandURI {
	var out []api.CommandURI
	for _, f := range c.Artifacts {
		out = append(out, api.CommandURI{Value: f.URI, Executable: f.Executable, Extract: f.Extract, Cache: f.Cache, OutputFile: f.DestPath})
	}
	return out
}
