package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

// The executor HTTP API (POST /api/v1/executor, Mesos'
// docs/executor-http-api.md) on its own plain-HTTP listener bound to the
// loopback address: executors (mesos-go's, Mesos' own) speak plain HTTP
// to MESOS_AGENT_ENDPOINT without credentials. Each connection is
// authenticated by the kernel's view of its peer (executor_peer.go): the
// process holding the other end of the TCP connection must be in a
// custom executor's container, and that executor is the principal; or
// the request carries that executor's token
// (Authorization: Bearer <MESOS_EXECUTOR_AUTHENTICATION_TOKEN>). Every
// call's framework_id and executor_id must name the principal (403
// otherwise); an unidentified caller gets 401. The one permission of the
// route is "be that executor".

// ExecutorAPIPermission is the route's permission, as the route tables
// show it.
const ExecutorAPIPermission = "executor:self"

// maxExecutorBody bounds one executor call.
const maxExecutorBody = 16 << 20

type peerConnKey struct{}

// ServeExecutorAPI serves the executor API on ln (a loopback listener)
// until ctx ends; executors get ln's address as MESOS_AGENT_ENDPOINT.
// Without it, tasks on custom executors fail to launch.
func (a *Agent) ServeExecutorAPI(ctx context.Context, ln net.Listener) error {
	a.execs.mu.Lock()
	a.execs.endpoint = ln.Addr().String()
	a.execs.mu.Unlock()
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathExecutor, a.handleExecutorAPI)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerConnKey{}, c)
		},
		ErrorLog: nil,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	}()
	err := srv.Serve(ln)
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// ExecutorEndpoint is the executor API's address ("" when not served).
func (a *Agent) ExecutorEndpoint() string {
	a.execs.mu.Lock()
	defer a.execs.mu.Unlock()
	return a.execs.endpoint
}

// executorPrincipal identifies the caller: the executor whose token the
// request carries, else the executor whose container holds the peer's end
// of the connection.
func (a *Agent) executorPrincipal(r *http.Request) (*executor, int, string) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, http.StatusUnauthorized, "only Bearer executor tokens are accepted"
		}
		if e := a.execs.byToken(strings.TrimSpace(tok)); e != nil {
			return e, 0, ""
		}
		return nil, http.StatusUnauthorized, "invalid executor token"
	}
	c, _ := r.Context().Value(peerConnKey{}).(net.Conn)
	if c == nil {
		return nil, http.StatusUnauthorized, "unidentified caller"
	}
	var cands []peerCandidate
	for _, e := range a.execs.all() {
		a.tasks.mu.Lock() // guards run.ctr (startContainer)
		ctr := e.run.ctr
		a.tasks.mu.Unlock()
		if ctr != nil {
			cands = append(cands, peerCandidate{pid: ctr.Pid(), e: e})
		}
	}
	if e := peerExecutor(c, cands); e != nil {
		return e, 0, ""
	}
	return nil, http.StatusUnauthorized, "the caller is not a custom executor of this agent (no executor container holds the connection, and no executor token was given)"
}

func (a *Agent) handleExecutorAPI(w http.ResponseWriter, r *http.Request) {
	e, code, why := a.executorPrincipal(r)
	if e == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="executor"`)
		execError(w, code, why)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	inProto := false
	switch mt {
	case mesospb.MediaJSON:
	case mesospb.MediaProtobuf:
		inProto = true
	default:
		execError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
		return
	}
	outProto, ok := executorAccept(r.Header.Get("Accept"), inProto)
	if !ok {
		execError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxExecutorBody))
	if err != nil {
		execError(w, http.StatusRequestEntityTooLarge, "read body: "+err.Error())
		return
	}
	if inProto {
		if body, err = mesospb.ToJSON(mesospb.ExecutorCall, body); err != nil {
			execError(w, http.StatusBadRequest, "Failed to parse body into Call: "+err.Error())
			return
		}
	}
	var call api.ExecutorCall
	if err := json.Unmarshal(body, &call); err != nil {
		execError(w, http.StatusBadRequest, "Failed to parse body into Call: "+err.Error())
		return
	}
	if call.FrameworkID.Value != e.key.framework || call.ExecutorID.Value != e.key.executor {
		execError(w, http.StatusForbidden, fmt.Sprintf("the caller is executor %s of framework %s; the call names executor %s of framework %s",
			e.key.executor, e.key.framework, call.ExecutorID.Value, call.FrameworkID.Value))
		return
	}
	switch call.Type {
	case api.ExecCallSubscribe:
		a.serveExecutorSubscription(w, r, e, call.Subscribe, outProto)
	case api.ExecCallUpdate:
		if call.Update == nil {
			execError(w, http.StatusBadRequest, "Expecting 'update' to be present")
			return
		}
		if err := a.executorUpdate(e, call.Update.Status); err != nil {
			execError(w, http.StatusBadRequest, "Invalid UPDATE: "+err.Error())
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case api.ExecCallMessage:
		if call.Message == nil {
			execError(w, http.StatusBadRequest, "Expecting 'message' to be present")
			return
		}
		a.executorMessage(r.Context(), e, call.Message.Data)
		w.WriteHeader(http.StatusAccepted)
	case api.ExecCallHeartbeat:
		w.WriteHeader(http.StatusAccepted)
	case "":
		execError(w, http.StatusBadRequest, "Expecting 'type' to be present")
	default:
		execError(w, http.StatusBadRequest, fmt.Sprintf("call type %q is not supported", call.Type))
	}
}

// executorAccept picks the answer's codec: the Accept header's, else the
// request's.
func executorAccept(accept string, inProto bool) (proto, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return inProto, true
	}
	best, found := false, false
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case mesospb.MediaProtobuf:
			return true, true
		case mesospb.MediaJSON:
			best, found = false, true
		case "*/*", "application/*":
			if !found {
				best, found = inProto, true
			}
		}
	}
	return best, found
}

// serveExecutorSubscription answers SUBSCRIBE: 200 and a RecordIO stream
// of events, SUBSCRIBED first, then a LAUNCH for each task waiting for
// the executor. A new subscription replaces an older one.
func (a *Agent) serveExecutorSubscription(w http.ResponseWriter, r *http.Request, e *executor, call *api.ExecutorSubscribeCall, outProto bool) {
	sub, resub, err := a.subscribeExecutor(e, call)
	if err != nil {
		execError(w, http.StatusGone, err.Error())
		return
	}
	defer func() {
		a.execs.mu.Lock()
		if e.sub == sub {
			e.sub = nil
		}
		a.execs.mu.Unlock()
		sub.close()
	}()
	if resub {
		a.log.Info("custom executor re-subscribed after the agent's restart", "framework_id", e.key.framework, "executor_id", e.key.executor, "container_id", e.run.containerID)
	}
	a.log.Info("custom executor subscribed", "framework_id", e.key.framework, "executor_id", e.key.executor)
	media := mesospb.MediaJSON
	if outProto {
		media = mesospb.MediaProtobuf
	}
	w.Header().Set("Content-Type", media)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	hb := time.NewTicker(executorHeartbeat)
	defer hb.Stop()
	write := func(ev api.ExecutorEvent) bool {
		b, err := json.Marshal(ev)
		if err == nil && outProto {
			b, err = mesospb.FromJSON(mesospb.ExecutorEvent, b)
		}
		if err != nil {
			a.log.Error("executor stream: encode event", "type", ev.Type, "err", err)
			return false
		}
		return api.WriteRecord(w, b) == nil
	}
	for {
		var ev api.ExecutorEvent
		select {
		case <-r.Context().Done():
			return
		case <-sub.closed:
			return
		case <-e.done:
			return
		case <-hb.C:
			ev = api.ExecutorEvent{Type: api.ExecEventHeartbeat}
		case ev = <-sub.events:
		}
		if !write(ev) {
			return
		}
		// Drain what is queued before flushing.
		for more := true; more; {
			select {
			case ev = <-sub.events:
				if !write(ev) {
					return
				}
			default:
				more = false
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// subscribeExecutor makes sub e's subscription, with SUBSCRIBED, the
// LAUNCH of each waiting task (and SHUTDOWN when due) queued on it. The
// first subscription of an executor recovered by a restarted agent is its
// re-subscription (executor_recover.go): resub reports it.
func (a *Agent) subscribeExecutor(e *executor, call *api.ExecutorSubscribeCall) (sub *executorSub, resub bool, err error) {
	if call == nil {
		call = &api.ExecutorSubscribeCall{} // knows no task, has no update
	}
	sub = &executorSub{events: make(chan api.ExecutorEvent, 1024), closed: make(chan struct{})}
	info := a.info()
	subscribed := api.ExecutorEvent{Type: api.ExecEventSubscribed, Subscribed: &api.ExecutorSubscribed{
		ExecutorInfo: e.info, FrameworkInfo: e.framework,
		AgentInfo:   api.ExecutorAgentInfo{Hostname: info.Hostname, Port: info.Port, Resources: info.Resources, ID: &api.ID{Value: info.ID}},
		ContainerID: &api.ID{Value: e.run.containerID},
	}}
	a.execs.mu.Lock()
	if e.ended {
		a.execs.mu.Unlock()
		return nil, false, errors.New("the executor has terminated")
	}
	if e.sub != nil {
		e.sub.close()
	}
	resub = e.recovered && !e.subscribed
	e.sub, e.subscribed = sub, true
	sub.events <- subscribed
	for _, t := range e.queued {
		sub.events <- api.ExecutorEvent{Type: api.ExecEventLaunch, Launch: &api.ExecutorLaunch{Task: t.info}}
	}
	e.queued = nil
	for _, ev := range a.alreadyAcked(e, call.UnacknowledgedUpdates) {
		sub.send(ev)
	}
	if e.shutdown {
		sub.events <- api.ExecutorEvent{Type: api.ExecEventShutdown}
	}
	a.execs.mu.Unlock()
	a.resubscribed(e, call, resub) // executor_recover.go
	return sub, resub, nil
}

// executorMessage relays an executor's MESSAGE to its framework through
// the leading master (best effort, as in Mesos).
func (a *Agent) executorMessage(ctx context.Context, e *executor, data []byte) {
	a.mu.Lock()
	leader := a.leader
	a.mu.Unlock()
	if leader == "" {
		a.log.Warn("executor message dropped: no master", "executor_id", e.key.executor)
		return
	}
	msg := api.ExecutorMessage{AgentID: api.ID{Value: a.ID()}, FrameworkID: api.ID{Value: e.key.framework}, ExecutorID: api.ID{Value: e.key.executor}, Data: data}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := a.client.post(sctx, leader, api.PathExecutorMessage, msg, nil); err != nil {
		a.log.Warn("executor message not delivered", "executor_id", e.key.executor, "err", err)
	}
}

// execError answers an executor call with a text body, as Mesos does.
func execError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}
