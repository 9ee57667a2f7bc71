package apps

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// App is a Marathon app definition (request and stored form). Fields with
// a Marathon default are pointers while decoding so that normalize can
// tell "absent" from zero; a normalized App has them all set.
type App struct {
	ID                         string               `json:"id"`
	Cmd                        string               `json:"cmd,omitempty"`
	Args                       []string             `json:"args,omitempty"`
	User                       string               `json:"user,omitempty"`
	Env                        map[string]any       `json:"env"`
	Instances                  *int                 `json:"instances"`
	Cpus                       *float64             `json:"cpus"`
	Mem                        *float64             `json:"mem"`
	Disk                       *float64             `json:"disk"`
	Gpus                       int                  `json:"gpus"`
	Constraints                [][]string           `json:"constraints"`
	PortDefinitions            []PortDefinition     `json:"portDefinitions"`
	Ports                      []int                `json:"ports,omitempty"`
	RequirePorts               bool                 `json:"requirePorts"`
	Container                  *Container           `json:"container,omitempty"`
	Networks                   []Network            `json:"networks,omitempty"`  // network.go
	IPAddress                  *IPAddress           `json:"ipAddress,omitempty"` // network.go (legacy)
	HealthChecks               []HealthCheck        `json:"healthChecks"`
	ReadinessChecks            []ReadinessCheck     `json:"readinessChecks"`
	Labels                     map[string]string    `json:"labels"`
	UpgradeStrategy            *UpgradeStrategy     `json:"upgradeStrategy"`
	BackoffSeconds             *float64             `json:"backoffSeconds"`
	BackoffFactor              *float64             `json:"backoffFactor"`
	MaxLaunchDelaySeconds      *float64             `json:"maxLaunchDelaySeconds"`
	TaskKillGracePeriodSeconds *float64             `json:"taskKillGracePeriodSeconds,omitempty"`
	KillSelection              string               `json:"killSelection"`
	UnreachableStrategy        *Unreachable         `json:"unreachableStrategy"`
	AcceptedResourceRoles      []string             `json:"acceptedResourceRoles,omitempty"`
	Role                       string               `json:"role,omitempty"` // roles.go
	Dependencies               []string             `json:"dependencies"`
	Fetch                      []Fetch              `json:"fetch"`
	URIs                       []string             `json:"uris,omitempty"` // deprecated: normalize turns it into Fetch
	Executor                   string               `json:"executor"`
	Residency                  *Residency           `json:"residency,omitempty"`
	Secrets                    map[string]SecretDef `json:"secrets,omitempty"`
	Version                    string               `json:"version,omitempty"`
	VersionInfo                *VersionInfo         `json:"versionInfo,omitempty"`
}

// PortDefinition is one host port the app asks for (0: any).
type PortDefinition struct {
	Port     int               `json:"port"`
	Protocol string            `json:"protocol,omitempty"`
	Name     string            `json:"name,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Container is the app's container: MESOS (UCR) or DOCKER, both run by
// the Mesos containerizer with the docker image.
type Container struct {
	Type      string     `json:"type"`
	Docker    *Docker    `json:"docker,omitempty"`
	Volumes   []Volume   `json:"volumes,omitempty"`
	LinuxInfo *LinuxInfo `json:"linuxInfo,omitempty"`
	// PortMappings in container/bridge mode (network.go).
	PortMappings []PortMapping `json:"portMappings,omitempty"`
}

// Docker names the image.
type Docker struct {
	Image          string `json:"image"`
	ForcePullImage bool   `json:"forcePullImage,omitempty"`
	// PullConfig names the secret with registry credentials (pullconfig.go).
	PullConfig *PullConfig `json:"pullConfig,omitempty"`
	// Privileged and Parameters are read only to be refused (image.go).
	Privileged bool              `json:"privileged,omitempty"`
	Parameters []DockerParameter `json:"parameters,omitempty"`
	// Network and PortMappings are the legacy Docker networking form,
	// normalized into App.Networks and Container.PortMappings (network.go).
	Network      string        `json:"network,omitempty"`
	PortMappings []PortMapping `json:"portMappings,omitempty"`
}

// Volume is a host-path volume.
type Volume struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath,omitempty"`
	Mode          string `json:"mode"`
	// Persistent makes it a local persistent volume (resident.go).
	Persistent *PersistentVolume `json:"persistent,omitempty"`
	// Secret makes it a file holding a secret's value (secrets.go).
	Secret string `json:"secret,omitempty"`
}

// HealthCheck is a Marathon health check. The first one is run by the
// agent next to the task (see healthCheck in sched.go).
type HealthCheck struct {
	Protocol  string `json:"protocol"`
	Path      string `json:"path,omitempty"`
	PortIndex *int   `json:"portIndex,omitempty"`
	Port      *int   `json:"port,omitempty"`
	Command   *struct {
		Value string `json:"value"`
	} `json:"command,omitempty"`
	GracePeriodSeconds     int `json:"gracePeriodSeconds"`
	IntervalSeconds        int `json:"intervalSeconds"`
	TimeoutSeconds         int `json:"timeoutSeconds"`
	MaxConsecutiveFailures int `json:"maxConsecutiveFailures"`
	DelaySeconds           int `json:"delaySeconds"`
}

// ReadinessCheck is a Marathon readiness check: during a deployment a new
// task counts only once an HTTP(S) GET of Path on its port PortName
// answers one of HTTPStatusCodesForReady. The leader runs it (as Marathon
// does), every IntervalSeconds until the task is ready.
type ReadinessCheck struct {
	Name                    string `json:"name"`
	Protocol                string `json:"protocol"`
	Path                    string `json:"path"`
	PortName                string `json:"portName"`
	IntervalSeconds         int    `json:"intervalSeconds"`
	TimeoutSeconds          int    `json:"timeoutSeconds"`
	HTTPStatusCodesForReady []int  `json:"httpStatusCodesForReady"`
	PreserveLastResponse    bool   `json:"preserveLastResponse"`
}

// UnmarshalJSON fills Marathon's readiness defaults in before decoding.
func (c *ReadinessCheck) UnmarshalJSON(b []byte) error {
	type plain ReadinessCheck
	p := plain{Name: "readinessCheck", Protocol: "HTTP", Path: "/", PortName: "http-api", IntervalSeconds: 30, TimeoutSeconds: 10}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.HTTPStatusCodesForReady == nil {
		p.HTTPStatusCodesForReady = []int{200}
	}
	*c = ReadinessCheck(p)
	return nil
}

// Marathon's health check defaults.
const (
	defaultGracePeriodSeconds     = 300
	defaultIntervalSeconds        = 60
	defaultTimeoutSeconds         = 20
	defaultMaxConsecutiveFailures = 3
	defaultDelaySeconds           = 15
)

// UnmarshalJSON fills Marathon's defaults in before decoding, so that an
// explicit 0 (no grace period, no delay) stays 0.
func (h *HealthCheck) UnmarshalJSON(b []byte) error {
	type plain HealthCheck
	p := plain{
		GracePeriodSeconds: defaultGracePeriodSeconds, IntervalSeconds: defaultIntervalSeconds,
		TimeoutSeconds: defaultTimeoutSeconds, MaxConsecutiveFailures: defaultMaxConsecutiveFailures,
		DelaySeconds: defaultDelaySeconds,
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*h = HealthCheck(p)
	return nil
}

// UpgradeStrategy bounds a rolling restart.
type UpgradeStrategy struct {
	MinimumHealthCapacity float64 `json:"minimumHealthCapacity"`
	MaximumOverCapacity   float64 `json:"maximumOverCapacity"`
}

// Unreachable is the app's unreachableStrategy: what to do with a task
// whose agent the master lost (TASK_UNREACHABLE). After
// InactiveAfterSeconds it stops counting as an instance and a replacement
// is launched; after ExpungeAfterSeconds it is forgotten (and killed if it
// ever comes back). Disabled ("disabled" in JSON) waits for it forever.
type Unreachable struct {
	Disabled             bool
	InactiveAfterSeconds float64
	ExpungeAfterSeconds  float64
}

// MarshalJSON writes "disabled" or {inactiveAfterSeconds, expungeAfterSeconds}.
func (u Unreachable) MarshalJSON() ([]byte, error) {
	if u.Disabled {
		return []byte(`"disabled"`), nil
	}
	return json.Marshal(map[string]float64{"inactiveAfterSeconds": u.InactiveAfterSeconds, "expungeAfterSeconds": u.ExpungeAfterSeconds})
}

// errUnreachableString is a string unreachableStrategy other than "disabled".
var errUnreachableString = fmt.Errorf(`unreachableStrategy must be "disabled" or an object`)

// UnmarshalJSON reads "disabled" or the object form (absent fields 0).
func (u *Unreachable) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		if str != "disabled" {
			return errUnreachableString
		}
		*u = Unreachable{Disabled: true}
		return nil
	}
	var o struct {
		InactiveAfterSeconds float64 `json:"inactiveAfterSeconds"`
		ExpungeAfterSeconds  float64 `json:"expungeAfterSeconds"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*u = Unreachable{InactiveAfterSeconds: o.InactiveAfterSeconds, ExpungeAfterSeconds: o.ExpungeAfterSeconds}
	return nil
}

// Fetch is a URI fetched into the sandbox.
type Fetch struct {
	URI        string `json:"uri"`
	Executable bool   `json:"executable,omitempty"`
	Extract    *bool  `json:"extract,omitempty"`
	Cache      bool   `json:"cache,omitempty"`
	DestPath   string `json:"destPath,omitempty"` // Mesos' output_file
}

// VersionInfo says when the app last scaled and last changed config.
type VersionInfo struct {
	LastScalingAt      string `json:"lastScalingAt"`
	LastConfigChangeAt string `json:"lastConfigChangeAt"`
}

// Kill selections.
const (
	YoungestFirst = "YOUNGEST_FIRST"
	OldestFirst   = "OLDEST_FIRST"
)

// timeFormat is Marathon's ISO-8601 UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// Detail is one offending path of a 422.
type Detail struct {
	Path   string   `json:"path"`
	Errors []string `json:"errors"`
}

var segmentRE = regexp.MustCompile(`^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$`)

// canonicalID makes id absolute and cleans "." / ".." / empty segments.
func canonicalID(id string) string {
	id = strings.TrimSpace(id)
	var out []string
	for _, s := range strings.Split(id, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

func validID(id string) []string {
	if id == "/" {
		return []string{"Path must contain at least one path element"}
	}
	for _, s := range strings.Split(strings.TrimPrefix(id, "/"), "/") {
		if !segmentRE.MatchString(s) {
			return []string{"must fully match regular expression '" + segmentRE.String() + "'"}
		}
	}
	return nil
}

var constraintOps = map[string]bool{"UNIQUE": true, "CLUSTER": true, "GROUP_BY": true, "LIKE": true, "UNLIKE": true, "MAX_PER": true, "IS": true}

func ptr[T any](v T) *T { return &v }

// normalize fills Marathon's defaults in.
func (a *App) normalize() {
	a.ID = canonicalID(a.ID)
	if a.Instances == nil {
		a.Instances = ptr(1)
	}
	if a.Cpus == nil {
		a.Cpus = ptr(1.0)
	}
	if a.Mem == nil {
		a.Mem = ptr(128.0)
	}
	if a.Disk == nil {
		a.Disk = ptr(0.0)
	}
	if a.Env == nil {
		a.Env = map[string]any{}
	}
	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	if a.Constraints == nil {
		a.Constraints = [][]string{}
	}
	if a.HealthChecks == nil {
		a.HealthChecks = []HealthCheck{}
	}
	if a.ReadinessChecks == nil {
		a.ReadinessChecks = []ReadinessCheck{}
	}
	for i := range a.HealthChecks {
		if a.HealthChecks[i].Protocol == "" {
			a.HealthChecks[i].Protocol = "HTTP"
		}
	}
	if a.Dependencies == nil {
		a.Dependencies = []string{}
	}
	for i, d := range a.Dependencies {
		a.Dependencies[i] = canonicalID(d)
	}
	a.normalizeURIs()
	if a.Fetch == nil {
		a.Fetch = []Fetch{}
	}
	a.normalizeNetworks() // network.go
	if a.PortDefinitions == nil {
		if a.Ports != nil {
			a.PortDefinitions = []PortDefinition{}
			for _, p := range a.Ports {
				a.PortDefinitions = append(a.PortDefinitions, PortDefinition{Port: p, Protocol: "tcp"})
			}
		} else {
			a.PortDefinitions = []PortDefinition{{Port: 0, Protocol: "tcp", Name: "default"}}
		}
	}
	for i := range a.PortDefinitions {
		if a.PortDefinitions[i].Protocol == "" {
			a.PortDefinitions[i].Protocol = "tcp"
		}
	}
	a.normalizeResident()
	if a.UpgradeStrategy == nil {
		a.UpgradeStrategy = &UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 1}
	}
	if a.BackoffSeconds == nil {
		a.BackoffSeconds = ptr(1.0)
	}
	if a.BackoffFactor == nil {
		a.BackoffFactor = ptr(1.15)
	}
	if a.MaxLaunchDelaySeconds == nil {
		a.MaxLaunchDelaySeconds = ptr(300.0)
	}
	if a.KillSelection == "" {
		a.KillSelection = YoungestFirst
	}
	if a.UnreachableStrategy == nil {
		a.UnreachableStrategy = &Unreachable{} // Marathon's default: 0 / 0
	}
	if a.Container != nil && a.Container.Type == "" {
		a.Container.Type = "MESOS"
	}
}

// validate returns the 422 details of a normalized app; none when valid.
func (a *App) validate() []Detail {
	var ds []Detail
	add := func(path string, msg ...string) { ds = append(ds, Detail{Path: path, Errors: msg}) }
	if errs := validID(a.ID); errs != nil {
		add("/id", errs...)
	}
	hasImage := a.Container != nil && a.Container.Docker != nil && a.Container.Docker.Image != ""
	switch {
	case a.Cmd != "" && len(a.Args) > 0:
		add("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
		add("/cmd", "must be empty when args are set")
		add("/args", "must be empty when cmd is set")
	case a.Cmd == "" && len(a.Args) == 0 && !hasImage:
		add("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
	}
	if len(a.URIs) > 0 {
		add("/uris", "cannot specify both uris and fetch fields")
	}
	if *a.Instances < 0 {
		add("/instances", "must be greater than or equal to 0")
	}
	if *a.Cpus < 0 || math.IsNaN(*a.Cpus) {
		add("/cpus", "must be greater than or equal to 0")
	}
	if *a.Mem < 0 {
		add("/mem", "must be greater than or equal to 0")
	}
	if *a.Disk < 0 {
		add("/disk", "must be greater than or equal to 0")
	}
	if a.Gpus < 0 {
		add("/gpus", "must be greater than or equal to 0")
	}
	for i, c := range a.Constraints {
		p := fmt.Sprintf("/constraints/%d", i)
		if len(c) < 2 || len(c) > 3 {
			add(p, "Each constraint must have either 2 or 3 fields")
			continue
		}
		op := c[1]
		if !constraintOps[op] {
			add(p, fmt.Sprintf("Constraint operator must be one of the following: [%s]", strings.Join(sortedKeys(constraintOps), ", ")))
			continue
		}
		val := ""
		if len(c) == 3 {
			val = c[2]
		}
		switch op {
		case "UNIQUE":
			if val != "" {
				add(p, "Value specified but not used")
			}
		case "LIKE", "UNLIKE":
			if _, err := regexp.Compile("^(?:" + val + ")$"); err != nil || val == "" {
				add(p, "'"+val+"' is not a valid regular expression")
			}
		case "MAX_PER", "GROUP_BY":
			if val != "" {
				var n int
				if _, err := fmt.Sscanf(val, "%d", &n); err != nil || n < 0 {
					add(p, "Value was not a number")
				}
			} else if op == "MAX_PER" {
				add(p, "Missing value")
			}
		case "IS":
			if val == "" {
				add(p, "Missing value")
			}
		}
	}
	if a.Ports != nil && len(a.PortDefinitions) > 0 && len(a.Ports) != len(a.PortDefinitions) {
		add("/ports", "cannot specify both ports and port definitions")
	}
	names := map[string]bool{}
	for i, pd := range a.PortDefinitions {
		p := fmt.Sprintf("/portDefinitions/%d", i)
		if pd.Port < 0 || pd.Port > 65535 {
			add(p+"/port", "must be between 0 and 65535")
		}
		switch pd.Protocol {
		case "tcp", "udp", "tcp,udp", "udp,tcp":
		default:
			add(p+"/protocol", "must be one of tcp, udp, tcp,udp")
		}
		if pd.Name != "" {
			if names[pd.Name] {
				add(p+"/name", "Port names must be unique.")
			}
			names[pd.Name] = true
		}
	}
	if c := a.Container; c != nil {
		switch c.Type {
		case "MESOS", "DOCKER":
		default:
			add("/container/type", "must be one of MESOS, DOCKER")
		}
		if c.Type == "DOCKER" && (c.Docker == nil || c.Docker.Image == "") {
			add("/container/docker/image", "must not be empty")
		}
		if sc := c.seccomp(); sc != nil && sc.Unconfined && sc.ProfileName != "" {
			add("/container/linuxInfo/seccomp", "profileName and unconfined exclude each other")
		}
		for i, v := range c.Volumes {
			if v.ContainerPath == "" {
				add(fmt.Sprintf("/container/volumes/%d/containerPath", i), "must not be empty")
			}
			if v.Mode != "RO" && v.Mode != "RW" && !(v.Secret != "" && v.Mode == "") {
				add(fmt.Sprintf("/container/volumes/%d/mode", i), "must be one of RO, RW")
			}
		}
	}
	for i, h := range a.HealthChecks {
		switch h.Protocol {
		case "HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP":
		default:
			add(fmt.Sprintf("/healthChecks/%d/protocol", i), "unknown protocol "+h.Protocol)
		}
		if h.IntervalSeconds <= 0 {
			add(fmt.Sprintf("/healthChecks/%d/intervalSeconds", i), "must be greater than 0")
		}
		if h.TimeoutSeconds <= 0 {
			add(fmt.Sprintf("/healthChecks/%d/timeoutSeconds", i), "must be greater than 0")
		}
		if h.GracePeriodSeconds < 0 || h.DelaySeconds < 0 || h.MaxConsecutiveFailures < 0 {
			add(fmt.Sprintf("/healthChecks/%d", i), "gracePeriodSeconds, delaySeconds and maxConsecutiveFailures must not be negative")
		}
		if h.Protocol == "COMMAND" && (h.Command == nil || h.Command.Value == "") {
			add(fmt.Sprintf("/healthChecks/%d/command", i), "must not be empty")
		}
		if h.Protocol != "COMMAND" && (h.Port == nil || *h.Port <= 0) {
			pi := 0
			if h.PortIndex != nil {
				pi = *h.PortIndex
			}
			if pi < 0 || pi >= len(a.hostPortDefs()) {
				add(fmt.Sprintf("/healthChecks/%d/portIndex", i), "Health check port indices must address an element of the ports array or container port mappings.")
			}
		}
	}
	if u := a.UpgradeStrategy; u != nil {
		if u.MinimumHealthCapacity < 0 || u.MinimumHealthCapacity > 1 {
			add("/upgradeStrategy/minimumHealthCapacity", "is not between 0 and 1")
		}
		if u.MaximumOverCapacity < 0 || u.MaximumOverCapacity > 1 {
			add("/upgradeStrategy/maximumOverCapacity", "is not between 0 and 1")
		}
	}
	if *a.BackoffSeconds < 0 {
		add("/backoffSeconds", "must be greater than or equal to 0")
	}
	if *a.BackoffFactor < 1 {
		add("/backoffFactor", "must be greater than or equal to 1")
	}
	if *a.MaxLaunchDelaySeconds < 0 {
		add("/maxLaunchDelaySeconds", "must be greater than or equal to 0")
	}
	if g := a.TaskKillGracePeriodSeconds; g != nil && *g < 0 {
		add("/taskKillGracePeriodSeconds", "must be greater than or equal to 0")
	}
	if u := a.UnreachableStrategy; u != nil && !u.Disabled {
		if u.InactiveAfterSeconds < 0 {
			add("/unreachableStrategy/inactiveAfterSeconds", "must be greater than or equal to 0")
		}
		if u.ExpungeAfterSeconds < u.InactiveAfterSeconds {
			add("/unreachableStrategy/expungeAfterSeconds", "must be greater than or equal to inactiveAfterSeconds")
		}
	}
	if len(a.ReadinessChecks) > 1 {
		add("/readinessChecks", "Only one readinessCheck is supported at the moment")
	}
	for i, c := range a.ReadinessChecks {
		p := fmt.Sprintf("/readinessChecks/%d", i)
		if c.Protocol != "HTTP" && c.Protocol != "HTTPS" {
			add(p+"/protocol", "must be one of HTTP, HTTPS")
		}
		if !slices.ContainsFunc(a.hostPortDefs(), func(pd PortDefinition) bool { return pd.Name == c.PortName }) {
			add(p+"/portName", "Readiness check portName must reference an existing port definition name")
		}
		if c.IntervalSeconds <= 0 || c.TimeoutSeconds <= 0 || c.TimeoutSeconds >= c.IntervalSeconds {
			add(p, "intervalSeconds must be positive and greater than timeoutSeconds")
		}
		if len(c.HTTPStatusCodesForReady) == 0 {
			add(p+"/httpStatusCodesForReady", "must not be empty")
		}
	}
	mesosChecks := 0
	for _, h := range a.HealthChecks {
		if strings.HasPrefix(h.Protocol, "MESOS_") {
			mesosChecks++
		}
	}
	if mesosChecks > 1 {
		add("/healthChecks", "AppDefinition can only have one Mesos health check")
	}
	if a.KillSelection != YoungestFirst && a.KillSelection != OldestFirst {
		add("/killSelection", "must be one of YOUNGEST_FIRST, OLDEST_FIRST")
	}
	for k, v := range a.Env {
		switch v := v.(type) {
		case string:
		case map[string]any:
			if _, ok := v["secret"]; !ok {
				add("/env/"+k, "must be a string or a secret reference")
			}
		default:
			add("/env/"+k, "must be a string")
		}
	}
	for i, d := range a.Dependencies {
		if errs := validID(d); errs != nil {
			add(fmt.Sprintf("/dependencies/%d", i), errs...)
		}
		if d == a.ID {
			add(fmt.Sprintf("/dependencies/%d", i), "an app cannot depend on itself")
		}
	}
	ds = append(ds, a.validateResident()...)
	ds = append(ds, a.validateSecrets()...)
	ds = append(ds, a.validateDocker()...)
	ds = append(ds, a.validateNetworks()...)
	ds = append(ds, a.validateRestartOnBoot()...) // restartonboot.go
	return ds
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// onlyScaleDiffers reports whether a and b differ in instances only (a
// scale, which restarts nothing).
func onlyScaleDiffers(a, b *App) bool {
	x, y := *a, *b
	x.Instances, y.Instances = nil, nil
	x.Version, y.Version = "", ""
	x.VersionInfo, y.VersionInfo = nil, nil
	jx, _ := json.Marshal(x)
	jy, _ := json.Marshal(y)
	return string(jx) == string(jy)
}

// clone deep-copies an app through JSON (definitions are small).
func (a *App) clone() *App {
	b, _ := json.Marshal(a)
	var c App
	_ = json.Unmarshal(b, &c)
	return &c
}

// taskPrefix is the app id as Marathon puts it in task ids: "/bar/simple"
// → "bar_simple".
func taskPrefix(appID string) string {
	return strings.ReplaceAll(strings.TrimPrefix(appID, "/"), "/", "_")
}
