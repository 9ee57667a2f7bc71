// Command recexec is the custom executor of TestExecutorRecovery: built on
// mesos-go's v1 executor library (testdata/thirdparty/mesos-go), it keeps
// each task it is given TASK_RUNNING until the task is killed (then
// TASK_KILLED), and, like the library's example executor, re-subscribes
// when its stream ends and the framework checkpoints (MESOS_CHECKPOINT=1),
// with its unacknowledged tasks and updates, until MESOS_RECOVERY_TIMEOUT
// has passed without an agent. It exits once SHUTDOWN arrives, or once
// every task it was given has ended and its last update was acknowledged.
// Each SUBSCRIBED is logged as "SUBSCRIBED <n>" on stdout.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/url"
	"os"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

type state struct {
	cli            calls.Sender
	executorID     mesos.ExecutorID
	live           map[string]bool // tasks not ended
	given          int
	unackedTasks   map[string]mesos.TaskInfo
	unackedUpdates map[string]executor.Call_Update
	subscriptions  int
	quit           bool
}

func main() {
	log.SetOutput(os.Stdout)
	cfg, err := config.FromEnv()
	if err != nil {
		log.Fatalf("configuration: %v", err)
	}
	endpoint := url.URL{Scheme: "http", Host: cfg.AgentEndpoint, Path: "/api/v1/executor"}
	cl := httpcli.New(httpcli.Endpoint(endpoint.String()), httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))))
	opts := executor.CallOptions{calls.Framework(cfg.FrameworkID), calls.Executor(cfg.ExecutorID)}
	st := &state{
		cli:          calls.SenderWith(httpexec.NewSender(cl.Send), opts...),
		executorID:   mesos.ExecutorID{Value: cfg.ExecutorID},
		live:         map[string]bool{},
		unackedTasks: map[string]mesos.TaskInfo{}, unackedUpdates: map[string]executor.Call_Update{},
	}
	subscriber := calls.SenderWith(httpexec.NewSender(cl.Send, httpcli.Close(true)), opts...)
	lost := time.Now()
	for {
		var tasks []mesos.TaskInfo
		for _, t := range st.unackedTasks {
			tasks = append(tasks, t)
		}
		var updates []executor.Call_Update
		for _, u := range st.unackedUpdates {
			updates = append(updates, u)
		}
		resp, err := subscriber.Send(context.Background(), calls.NonStreaming(calls.Subscribe(tasks, updates)))
		if err == nil {
			err = st.events(resp)
			lost = time.Now()
		}
		if resp != nil {
			resp.Close()
		}
		log.Printf("subscription ended: %v", err)
		switch {
		case st.quit:
			log.Print("exiting")
			return
		case !cfg.Checkpoint:
			log.Print("the framework does not checkpoint: exiting")
			return
		case time.Since(lost) > cfg.RecoveryTimeout:
			log.Printf("no agent within %s: exiting", cfg.RecoveryTimeout)
			os.Exit(1)
		}
		time.Sleep(time.Second) // the subscription backoff
	}
}

func (st *state) events(d encoding.Decoder) error {
	for !st.quit {
		var e executor.Event
		if err := d.Decode(&e); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the agent closed the stream")
			}
			return err
		}
		switch e.GetType() {
		case executor.Event_SUBSCRIBED:
			st.subscriptions++
			log.Printf("SUBSCRIBED %d", st.subscriptions)
		case executor.Event_LAUNCH:
			t := e.GetLaunch().Task
			st.unackedTasks[t.TaskID.Value] = t
			st.live[t.TaskID.Value] = true
			st.given++
			st.update(t.TaskID, mesos.TASK_RUNNING)
		case executor.Event_KILL:
			id := e.GetKill().TaskID
			if st.live[id.Value] {
				delete(st.live, id.Value)
				st.update(id, mesos.TASK_KILLED)
			}
		case executor.Event_ACKNOWLEDGED:
			ack := e.GetAcknowledged()
			delete(st.unackedTasks, ack.TaskID.Value)
			delete(st.unackedUpdates, string(ack.UUID))
			if st.given > 0 && len(st.live) == 0 && len(st.unackedUpdates) == 0 {
				log.Print("every task ended and was acknowledged")
				st.quit = true
			}
		case executor.Event_SHUTDOWN:
			st.quit = true
		case executor.Event_ERROR:
			return errors.New("ERROR event: " + e.GetError().GetMessage())
		}
	}
	return nil
}

// update sends a task's status; one the agent did not take stays in the
// unacknowledged updates, sent again with the next SUBSCRIBE.
func (st *state) update(id mesos.TaskID, s mesos.TaskState) {
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	status := mesos.TaskStatus{TaskID: id, State: &s, Source: mesos.SOURCE_EXECUTOR.Enum(), ExecutorID: &st.executorID, UUID: uuid}
	call := calls.Update(status)
	st.unackedUpdates[string(uuid)] = *call.Update
	resp, err := st.cli.Send(context.Background(), calls.NonStreaming(call))
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		log.Printf("UPDATE %s %s: %v", id.Value, s, err)
		return
	}
	log.Printf("UPDATE %s %s", id.Value, s)
}
