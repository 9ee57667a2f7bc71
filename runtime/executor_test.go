package runtime

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/cluster/api"
)

// /proc/net/tcp's address form: 32-bit words in host order, port in hex.
func TestExecutorPeerParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0016":                         "0.0.0.0:22",
		"00000000000000000000000001000000:0050": "[::1]:80",
	} {
		got, err := parseProcAddr(in)
		if err != nil || got != netip.MustParseAddrPort(want) {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := parseProcAddr("nonsense"); err == nil {
		t.Error("parseProcAddr accepted nonsense")
	}
}

// The kernel's view of a loopback connection: the client socket's inode
// is found, and this process holds it; a connection whose client end is
// in no candidate's PID namespace identifies nobody.
func TestExecutorPeerSocketInode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	local := netip.MustParseAddrPort(server.LocalAddr().String())
	remote := netip.MustParseAddrPort(server.RemoteAddr().String())
	ino, err := socketInode(remote, local)
	if err != nil || ino == "" {
		t.Fatalf("socketInode: %q, %v", ino, err)
	}
	if !holdsSocket(os.Getpid(), "socket:["+ino+"]") {
		t.Errorf("this process does not hold socket %s", ino)
	}
	// This test shares the agent's PID namespace: a candidate there
	// counts its init alone (pid 1 is not this process).
	if e := peerExecutor(server, []peerCandidate{{pid: 1, e: &executor{}}}); e != nil {
		t.Error("a connection from outside every executor container was identified")
	}
}

func TestExecutorAccept(t *testing.T) {
	for _, c := range []struct {
		accept          string
		in, want, valid bool
	}{
		{"", true, true, true},
		{"", false, false, true},
		{"application/x-protobuf", false, true, true},
		{"application/json", true, false, true},
		{"*/*", true, true, true},
		{"text/html", true, false, false},
	} {
		got, ok := executorAccept(c.accept, c.in)
		if got != c.want || ok != c.valid {
			t.Errorf("executorAccept(%q, %v) = %v, %v", c.accept, c.in, got, ok)
		}
	}
}

// executorLaunch is a LAUNCH of task id on framework fw's custom
// executor "ex".
func executorLaunch(id string) *api.AgentMessage {
	m := launchMessage(id, "", "")
	m.Launch.Task.Command = nil
	m.Launch.Task.Executor = &api.ExecutorInfo{
		Type: api.ExecutorTypeCustom, ExecutorID: api.ID{Value: "ex"},
		Command:   &api.CommandInfo{Value: "./my-executor"},
		Resources: api.Resources{api.ScalarResource("cpus", 0.1), api.ScalarResource("mem", 32)},
	}
	return m
}

// Two tasks on one executor start it once, in its own container with
// Mesos' executor environment (the token as a secret variable, kept out
// of the stored spec); an executor that never subscribes is killed after
// --executor_registration_timeout and its tasks end TASK_FAILED
// (REASON_EXECUTOR_TERMINATED); its container is destroyed.
func TestExecutorRegistrationTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		cfg := fakeAgentConfig(t, t.TempDir(), d)
		cfg.ExecutorRegistrationTimeout = 10 * time.Second
		a, ctx, _ := startFakeAgent(t, cfg)
		a.status = newStatusManager(func(context.Context, api.StatusUpdate) error { return nil }, a.tasks.complete, a.log)
		a.execs.endpoint = "127.0.0.1:5052"
		a.dispatch(ctx, executorLaunch("t1"))
		a.dispatch(ctx, executorLaunch("t2"))
		synctest.Wait()
		c := d.only()
		env := strings.Join(c.spec.Env, "\n")
		for _, want := range []string{"MESOS_AGENT_ENDPOINT=127.0.0.1:5052", "MESOS_EXECUTOR_ID=ex", "MESOS_FRAMEWORK_ID=fw", "MESOS_HTTP_COMMAND_EXECUTOR=0", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=5secs", "MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs"} {
			if !strings.Contains(env, want) {
				t.Errorf("executor environment lacks %s:\n%s", want, env)
			}
		}
		if strings.Contains(env, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN") || len(c.spec.SecretEnv) != 1 || !strings.HasPrefix(c.spec.SecretEnv[0], "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=") {
			t.Errorf("the token is not (only) a secret variable: env %q, secret %d", env, len(c.spec.SecretEnv))
		}
		wantStates(t, a, "t1")       // waiting for the executor: no update yet
		time.Sleep(11 * time.Second) // synctest's fake clock: the stimulus (time passing to the timeout), not a wait
		synctest.Wait()
		for _, id := range []string{"t1", "t2"} {
			st := lastStatus(t, a, id)
			if st.State != api.TaskFailed || st.Reason != api.ReasonExecutorTerminated {
				t.Errorf("task %s: %s %s, want TASK_FAILED REASON_EXECUTOR_TERMINATED", id, st.State, st.Reason)
			}
		}
		if ids := d.ids(); len(ids) != 0 {
			t.Errorf("containers left: %v", ids)
		}
		if a.execs.get("fw", "ex") != nil {
			t.Error("the executor is still in the table")
		}
	})
}
