package cluster

import (
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// A task on a custom executor is accepted as mesos-go's example scheduler
// sends it; what nodectl cannot run is refused naming the field.
func TestExecutorValidateTask(t *testing.T) {
	f := false
	ok := func() api.TaskInfo {
		return api.TaskInfo{Name: "t", TaskID: api.ID{Value: "1"}, Executor: &api.ExecutorInfo{
			Type: api.ExecutorTypeCustom, ExecutorID: api.ID{Value: "default"}, Name: "Test Executor",
			Command:   &api.CommandInfo{Value: "./example-executor", URIs: []api.CommandURI{{Value: "http://127.0.0.1:1/example-executor"}}},
			Resources: api.Resources{{Name: "cpus", Type: api.Scalar, Scalar: &api.ScalarVal{Value: 0.1}}},
		}}
	}
	if err := validateCommand(ok()); err != nil {
		t.Fatalf("example scheduler's task refused: %v", err)
	}
	for field, mutate := range map[string]func(*api.TaskInfo){
		"executor.type":                func(ti *api.TaskInfo) { ti.Executor.Type = "DEFAULT" },
		"executor.command":             func(ti *api.TaskInfo) { ti.Executor.Command = nil },
		"executor.command.value":       func(ti *api.TaskInfo) { ti.Executor.Command.Value = " " },
		"executor.command has neither": func(ti *api.TaskInfo) { ti.Executor.Command = &api.CommandInfo{Shell: &f} },
		"executor.executor_id":         func(ti *api.TaskInfo) { ti.Executor.ExecutorID.Value = "a/b" },
		"executor.container.mesos.image": func(ti *api.TaskInfo) {
			ti.Executor.Container = &api.ContainerInfo{Type: "MESOS", Mesos: &api.MesosContainer{Image: &api.Image{Type: "DOCKER"}}}
		},
		"executor.container.network_infos": func(ti *api.TaskInfo) {
			ti.Executor.Container = &api.ContainerInfo{NetworkInfos: []api.NetworkInfo{{Name: "mesos-bridge"}}}
		},
		"executor.container.type":        func(ti *api.TaskInfo) { ti.Executor.Container = &api.ContainerInfo{Type: "DOCKER"} },
		"either command or executor":     func(ti *api.TaskInfo) { ti.Command = &api.CommandInfo{Value: "true"} },
		"set executor.container instead": func(ti *api.TaskInfo) { ti.Container = &api.ContainerInfo{Type: "MESOS"} },
		"executor.command.environment": func(ti *api.TaskInfo) {
			ti.Executor.Command.Environment = &api.Environment{Variables: []api.EnvVar{{Name: "A=B"}}}
		},
	} {
		ti := ok()
		mutate(&ti)
		err := validateCommand(ti)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}
