package apps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Marathon pods (Marathon docs: "Pods"; REST definition
// docs/docs/rest-api/public/api/v2/pods.raml and types/pod.raml in
// mesosphere/marathon): a pod instance is all of the pod's containers on
// one agent, launched together as one Mesos task group (LAUNCH_GROUP,
// podsched.go). The containers share the IPC namespace, the host network
// and the pod's ephemeral volumes.
//
// Every field of the pod schema is either honoured or refused with 422
// naming it: unknown fields are refused while decoding (strictly, at every
// level), and fields nodectl does not implement yet are refused by
// validate. Nothing is silently dropped.

// Pod is a Marathon pod definition.
type Pod struct {
	ID                string               `json:"id"`
	Labels            map[string]string    `json:"labels,omitempty"`
	Version           string               `json:"version,omitempty"`
	User              string               `json:"user,omitempty"`
	Environment       map[string]any       `json:"environment,omitempty"`
	Containers        []PodContainer       `json:"containers"`
	Volumes           []PodVolume          `json:"volumes,omitempty"`
	Networks          []PodNetwork         `json:"networks,omitempty"`
	Scaling           *PodScaling          `json:"scaling,omitempty"`
	Scheduling        *PodScheduling       `json:"scheduling,omitempty"`
	ExecutorResources *PodResources        `json:"executorResources,omitempty"`
	Secrets           map[string]SecretDef `json:"secrets,omitempty"` // podsecrets.go
	Role              string               `json:"role,omitempty"`
	// LegacySharedCgroups is Marathon's switch between one cgroup per pod
	// and per container; nodectl always has one per container.
	LegacySharedCgroups *bool `json:"legacySharedCgroups,omitempty"`
}

// PodContainer is one container of a pod.
type PodContainer struct {
	Name         string            `json:"name"`
	Exec         *PodExec          `json:"exec,omitempty"`
	Resources    PodResources      `json:"resources"`
	Endpoints    []PodEndpoint     `json:"endpoints,omitempty"` // podendpoints.go
	Image        *PodImage         `json:"image,omitempty"`
	Environment  map[string]any    `json:"environment,omitempty"`
	User         string            `json:"user,omitempty"`
	HealthCheck  *PodHealthCheck   `json:"healthCheck,omitempty"`
	Check        json.RawMessage   `json:"check,omitempty"`
	VolumeMounts []PodVolumeMount  `json:"volumeMounts,omitempty"`
	Artifacts    []Fetch           `json:"artifacts,omitempty"` // podartifacts.go
	Labels       map[string]string `json:"labels,omitempty"`
	Lifecycle    *PodLifecycle     `json:"lifecycle,omitempty"`
	Tty          *bool             `json:"tty,omitempty"`
	LinuxInfo    json.RawMessage   `json:"linuxInfo,omitempty"`
}

// PodExec is a container's command.
type PodExec struct {
	Command PodCommand `json:"command"`
	// OverrideEntrypoint: argv[0] replaces the image's entrypoint
	// (podexec.go).
	OverrideEntrypoint *bool `json:"overrideEntrypoint,omitempty"`
}

// PodCommand is a shell command line or an argv.
type PodCommand struct {
	Shell string   `json:"shell,omitempty"`
	Argv  []string `json:"argv,omitempty"`
}

// PodResources are a container's (or the executor's) resources.
type PodResources struct {
	Cpus float64 `json:"cpus"`
	Mem  float64 `json:"mem"`
	Disk float64 `json:"disk,omitempty"`
	Gpus int     `json:"gpus,omitempty"`
	// hasCpus and hasMem: the fields were in the JSON (see UnmarshalJSON).
	hasCpus, hasMem bool
}

// PodImage is a container image.
type PodImage struct {
	Kind       string      `json:"kind"`
	ID         string      `json:"id"`
	ForcePull  bool        `json:"forcePull,omitempty"`
	PullConfig *PullConfig `json:"pullConfig,omitempty"` // pullconfig.go
}

// PodHealthCheck is a container's health check: exactly one of http, tcp
// and exec.
type PodHealthCheck struct {
	HTTP                   json.RawMessage `json:"http,omitempty"`
	TCP                    json.RawMessage `json:"tcp,omitempty"`
	Exec                   *PodExecCheck   `json:"exec,omitempty"`
	GracePeriodSeconds     *int            `json:"gracePeriodSeconds,omitempty"`
	IntervalSeconds        *int            `json:"intervalSeconds,omitempty"`
	MaxConsecutiveFailures *int            `json:"maxConsecutiveFailures,omitempty"`
	TimeoutSeconds         *int            `json:"timeoutSeconds,omitempty"`
	DelaySeconds           *int            `json:"delaySeconds,omitempty"`
}

// PodExecCheck is a command health check, run inside the container.
type PodExecCheck struct {
	Command PodCommand `json:"command"`
}

// PodVolumeMount mounts one of the pod's volumes into a container.
type PodVolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// PodVolume is one of the pod's volumes; with only a name, an ephemeral
// one (a directory of the instance's executor sandbox).
type PodVolume struct {
	Name       string          `json:"name"`
	Host       string          `json:"host,omitempty"`
	Persistent json.RawMessage `json:"persistent,omitempty"`
	Secret     string          `json:"secret,omitempty"`
}

// PodNetwork is one of the pod's networks (only host networking).
type PodNetwork struct {
	Name   string            `json:"name,omitempty"`
	Mode   string            `json:"mode,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// PodScaling is the pod's scaling policy (kind fixed).
type PodScaling struct {
	Kind         string `json:"kind"`
	Instances    int    `json:"instances"`
	MaxInstances *int   `json:"maxInstances,omitempty"`
}

// PodScheduling is the pod's scheduling policy.
type PodScheduling struct {
	Backoff             *PodBackoff     `json:"backoff,omitempty"`
	Upgrade             json.RawMessage `json:"upgrade,omitempty"`
	Placement           *PodPlacement   `json:"placement,omitempty"`
	UnreachableStrategy json.RawMessage `json:"unreachableStrategy,omitempty"`
	KillSelection       string          `json:"killSelection,omitempty"`
}

// PodBackoff is the launch backoff of failed instances.
type PodBackoff struct {
	Backoff        *float64 `json:"backoff,omitempty"`
	BackoffFactor  *float64 `json:"backoffFactor,omitempty"`
	MaxLaunchDelay *float64 `json:"maxLaunchDelay,omitempty"`
}

// PodPlacement holds placement constraints.
type PodPlacement struct {
	Constraints           []PodConstraint `json:"constraints,omitempty"`
	AcceptedResourceRoles []string        `json:"acceptedResourceRoles,omitempty"`
}

// PodConstraint is {fieldName, operator, value}.
type PodConstraint struct {
	FieldName string `json:"fieldName"`
	Operator  string `json:"operator"`
	Value     string `json:"value,omitempty"`
}

// Marathon's default executor resources (types/pod.raml ExecutorResources).
var defaultExecutorResources = PodResources{Cpus: 0.1, Mem: 32, Disk: 10}

// containerNameRE is Marathon's container and volume name pattern.
var containerNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9]+)*$`)

// errStrict marks a decoding error of a pod body.
var errStrict = errors.New("invalid pod")

// decodePod decodes a pod strictly: an unknown field at any level is an
// error naming it.
func decodePod(body []byte) (*Pod, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p Pod
	if err := dec.Decode(&p); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			msg = "unknown field " + f + " is not supported"
		}
		return nil, fmt.Errorf("%w: %s", errStrict, msg)
	}
	return &p, nil
}

// normalize fills defaults (as Marathon shows them back).
func (p *Pod) normalize() {
	p.ID = canonicalID(p.ID)
	if p.Scaling == nil {
		p.Scaling = &PodScaling{Kind: "fixed", Instances: 1}
	}
	if p.Scaling.Kind == "" {
		p.Scaling.Kind = "fixed"
	}
	if p.ExecutorResources == nil {
		r := defaultExecutorResources
		p.ExecutorResources = &r
	}
	if len(p.Networks) == 0 {
		p.Networks = []PodNetwork{{Mode: "host"}}
	}
	for i := range p.Containers {
		p.Containers[i].Resources.defaults()
	}
	p.normalizeKillSelection() // podkill.go
}

// notYet is the message of a field nodectl does not implement yet.
func notYet(what string) string { return what + " is not yet supported by nodectl" }

// validate checks a normalized pod; each detail names its field.
func (p *Pod) validate(frameworkRole string) []Detail {
	var ds []Detail
	add := func(path, msg string) { ds = append(ds, Detail{Path: path, Errors: []string{msg}}) }
	if errs := validID(p.ID); errs != nil {
		add("/id", errs[0])
	}
	ds = append(ds, p.validateSecrets()...)       // podsecrets.go: secrets and environment
	ds = append(ds, p.validateHostVolumes()...)   // podvolumes.go
	ds = append(ds, p.validateEndpoints()...)     // podendpoints.go
	ds = append(ds, p.validateResident()...)      // podresident.go
	ds = append(ds, p.validateRestartOnBoot()...) // restartonboot.go
	if p.Role != "" && p.Role != frameworkRole {
		add("/role", notYet(fmt.Sprintf("role %q (pods run in the framework's role %q)", p.Role, frameworkRole)))
	}
	if p.LegacySharedCgroups != nil && *p.LegacySharedCgroups {
		add("/legacySharedCgroups", notYet("a cgroup shared by the pod's containers"))
	}
	for i, n := range p.Networks {
		if n.Mode != "host" || n.Name != "" || len(n.Labels) > 0 {
			add(fmt.Sprintf("/networks/%d", i), notYet(fmt.Sprintf("network mode %q (only host networking)", n.Mode)))
		}
	}
	if len(p.Networks) > 1 {
		add("/networks", notYet("more than one network"))
	}
	if s := p.Scaling; s != nil {
		if s.Kind != "fixed" {
			add("/scaling/kind", fmt.Sprintf("scaling kind %q is not supported (only fixed)", s.Kind))
		}
		if s.Instances < 0 {
			add("/scaling/instances", "must be greater than or equal to 0")
		}
		if s.MaxInstances != nil && *s.MaxInstances < s.Instances {
			add("/scaling/maxInstances", "must be greater than or equal to instances")
		}
	}
	if s := p.Scheduling; s != nil {
		ds = append(ds, p.validateStrategies()...) // podstrategy.go: upgrade and unreachableStrategy
		if s.KillSelection != "" && s.KillSelection != YoungestFirst && s.KillSelection != OldestFirst {
			add("/scheduling/killSelection", "must be one of YOUNGEST_FIRST, OLDEST_FIRST")
		}
		if b := s.Backoff; b != nil {
			if b.Backoff != nil && *b.Backoff < 0 || b.BackoffFactor != nil && *b.BackoffFactor < 1 || b.MaxLaunchDelay != nil && *b.MaxLaunchDelay < 0 {
				add("/scheduling/backoff", "backoff >= 0, backoffFactor >= 1 and maxLaunchDelay >= 0 are required")
			}
		}
		if pl := s.Placement; pl != nil {
			if errs := podRoleDetails(pl.AcceptedResourceRoles, frameworkRole); errs != nil { // roles.go
				add("/scheduling/placement/acceptedResourceRoles", errs[0])
			}
			cs := &App{ID: p.ID, Cmd: "true", Constraints: p.constraints()}
			cs.normalize()
			for _, d := range cs.validate() {
				if strings.HasPrefix(d.Path, "/constraints") {
					add("/scheduling/placement"+d.Path, strings.Join(d.Errors, "; "))
				}
			}
			for i, c := range pl.Constraints {
				if c.Operator == "GROUP_BY" {
					add(fmt.Sprintf("/scheduling/placement/constraints/%d", i), notYet("the GROUP_BY constraint for pods"))
				}
			}
		}
	}
	if r := p.ExecutorResources; r != nil && (r.Cpus < 0 || r.Mem < 0 || r.Disk < 0 || r.Gpus != 0) {
		add("/executorResources", "cpus, mem and disk must be >= 0 and gpus 0")
	}
	vols := map[string]bool{}
	for i, v := range p.Volumes {
		pp := fmt.Sprintf("/volumes/%d", i)
		switch {
		case !containerNameRE.MatchString(v.Name):
			add(pp+"/name", "must fully match regular expression '"+containerNameRE.String()+"'")
		case vols[v.Name]:
			add(pp+"/name", "volume names must be unique")
		}
		vols[v.Name] = true
		// host: podvolumes.go; persistent: podresident.go
	}
	if len(p.Containers) == 0 {
		add("/containers", "a pod needs at least one container")
	}
	names := map[string]bool{}
	for i, c := range p.Containers {
		pc := fmt.Sprintf("/containers/%d", i)
		switch {
		case !containerNameRE.MatchString(c.Name):
			add(pc+"/name", "must fully match regular expression '"+containerNameRE.String()+"'")
		case names[c.Name]:
			add(pc+"/name", "container names must be unique")
		}
		names[c.Name] = true
		if c.Exec == nil && c.Image == nil {
			add(pc+"/exec", "a container needs exec or an image")
		}
		if e := c.Exec; e != nil {
			switch {
			case e.Command.Shell != "" && len(e.Command.Argv) > 0:
				add(pc+"/exec/command", "shell and argv are exclusive")
			case e.Command.Shell == "" && len(e.Command.Argv) == 0:
				add(pc+"/exec/command", "a command needs shell or argv")
			}
			if e.Command.Shell != "" && e.OverrideEntrypoint != nil && !*e.OverrideEntrypoint {
				add(pc+"/exec/overrideEntrypoint", "must not be false with command.shell: a shell command always replaces the image's entrypoint")
			}
		}
		if r := c.Resources; r.Cpus <= 0 || r.Mem <= 0 || r.Disk < 0 {
			add(pc+"/resources", "cpus and mem must be > 0, disk >= 0")
		}
		if c.Resources.Gpus != 0 {
			add(pc+"/resources/gpus", notYet("gpus"))
		}
		if img := c.Image; img != nil {
			if img.Kind != "DOCKER" || strings.TrimSpace(img.ID) == "" {
				add(pc+"/image", fmt.Sprintf("image kind %q is not supported (only DOCKER, with an id)", img.Kind))
			}
			ds = append(ds, validatePullConfig(pc+"/image/pullConfig", img.PullConfig, p.Secrets)...)
		}
		if hc := c.HealthCheck; hc != nil {
			switch {
			case len(hc.HTTP) > 0, len(hc.TCP) > 0: // podendpoints.go
			case hc.Exec == nil:
				add(pc+"/healthCheck", "a health check needs http, tcp or exec")
			case hc.Exec.Command.Shell == "" && len(hc.Exec.Command.Argv) == 0:
				add(pc+"/healthCheck/exec/command", "a command needs shell or argv")
			case len(hc.Exec.Command.Argv) > 0:
				add(pc+"/healthCheck/exec/command/argv", notYet("argv in exec health checks (use shell)"))
			}
		}
		if len(c.Check) > 0 {
			add(pc+"/check", notYet("readiness checks of pod containers (check)"))
		}
		ds = append(ds, validateArtifacts(pc, c)...) // podartifacts.go
		if c.Tty != nil && *c.Tty {
			add(pc+"/tty", ttyRefusal) // podexec.go
		}
		if len(c.LinuxInfo) > 0 {
			add(pc+"/linuxInfo", notYet("linuxInfo"))
		}
		if l := c.Lifecycle; l != nil && l.KillGracePeriodSeconds != nil && *l.KillGracePeriodSeconds < 0 {
			add(pc+"/lifecycle/killGracePeriodSeconds", "must be >= 0")
		}
		for j, m := range c.VolumeMounts {
			pm := fmt.Sprintf("%s/volumeMounts/%d", pc, j)
			if !vols[m.Name] {
				add(pm+"/name", fmt.Sprintf("volume %q is not one of the pod's volumes", m.Name))
			}
			mp := path.Clean(m.MountPath)
			switch {
			case m.MountPath == "" || mp == ".." || strings.HasPrefix(mp, "../"):
				add(pm+"/mountPath", "must be a path, relative to the sandbox or absolute, without ..")
			case path.IsAbs(mp) && c.Image == nil:
				add(pm+"/mountPath", notYet("an absolute mountPath without an image (a container without an image sees the host's filesystem; use a path relative to the sandbox)"))
			}
		}
	}
	return ds
}

// constraints are the pod's placement constraints in the apps' form.
func (p *Pod) constraints() [][]string {
	if p.Scheduling == nil || p.Scheduling.Placement == nil {
		return nil
	}
	var out [][]string
	for _, c := range p.Scheduling.Placement.Constraints {
		cs := []string{c.FieldName, c.Operator}
		if c.Value != "" {
			cs = append(cs, c.Value)
		}
		out = append(out, cs)
	}
	return out
}

// instances is how many instances the pod wants.
func (p *Pod) instances() int {
	if p.Scaling == nil {
		return 1
	}
	return p.Scaling.Instances
}

// PodLifecycle is a container's lifecycle.
type PodLifecycle struct {
	KillGracePeriodSeconds *float64 `json:"killGracePeriodSeconds,omitempty"`
}
