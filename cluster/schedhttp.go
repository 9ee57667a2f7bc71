package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// handleScheduler serves POST /api/v1/scheduler, the Mesos v1 scheduler
// HTTP API, in JSON or protobuf (schedcodec.go). SUBSCRIBE answers 200 with a RecordIO stream of
// events; every other call answers 202 once accepted for processing.
func (m *Master) handleScheduler(w http.ResponseWriter, r *http.Request) {
	in, ok := requestCodec(r.Header.Get("Content-Type"))
	if !ok {
		schedError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
		return
	}
	out, ok := streamCodec(r.Header)
	if !ok {
		schedError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf (or application/recordio with such a 'Message-Accept')")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		schedError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("read body: %v", err))
		return
	}
	if body, err = decodeSchedulerBody(in, body); err != nil {
		schedError(w, http.StatusBadRequest, fmt.Sprintf("Failed to parse body into Call: %v", err))
		return
	}
	var call api.Call
	if err := json.Unmarshal(body, &call); err != nil {
		schedError(w, http.StatusBadRequest, fmt.Sprintf("Failed to parse body into Call: %v", err))
		return
	}
	if call.Type == api.CallSubscribe {
		m.serveSubscription(w, r, call, out)
		return
	}
	sid := r.Header.Get(api.StreamIDHeader)
	if sid == "" {
		schedError(w, http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
		return
	}
	if call.FrameworkID == nil || call.FrameworkID.Value == "" {
		schedError(w, http.StatusBadRequest, "Expecting 'framework_id' to be present")
		return
	}
	s := Subscription{FrameworkID: call.FrameworkID.Value, StreamID: sid}
	if err := m.dispatch(s, call); err != nil {
		schedError(w, errStatus(err), err.Error())
		return
	}
	if call.Type == api.CallUpdateFramework {
		// 200 and no body, as Mesos answers UPDATE_FRAMEWORK; the
		// Content-Type is the accepted codec's, which clients reading a
		// 200 as a (here empty) response of their codec check (mesos-go).
		w.Header().Set("Content-Type", out.mediaType())
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// dispatch runs one non-SUBSCRIBE call through the Scheduler interface.
func (m *Master) dispatch(s Subscription, call api.Call) error {
	missing := func(field string) error {
		return fmt.Errorf("%w: expecting '%s' to be present", ErrBadCall, field)
	}
	switch call.Type {
	case api.CallTeardown:
		return m.Teardown(s)
	case api.CallAccept:
		if call.Accept == nil {
			return missing("accept")
		}
		return m.Accept(s, *call.Accept)
	case api.CallDecline:
		if call.Decline == nil {
			return missing("decline")
		}
		return m.Decline(s, *call.Decline)
	case api.CallRevive:
		var roles []string
		if call.Revive != nil {
			roles = call.Revive.Roles
		}
		return m.Revive(s, roles)
	case api.CallSuppress:
		var roles []string
		if call.Suppress != nil {
			roles = call.Suppress.Roles
		}
		return m.Suppress(s, roles)
	case api.CallKill:
		if call.Kill == nil {
			return missing("kill")
		}
		return m.Kill(s, *call.Kill)
	case api.CallAcknowledge:
		if call.Acknowledge == nil {
			return missing("acknowledge")
		}
		return m.Acknowledge(s, *call.Acknowledge)
	case api.CallReconcile:
		var rc api.ReconcileCall
		if call.Reconcile != nil {
			rc = *call.Reconcile
		}
		return m.Reconcile(s, rc)
	case api.CallAcceptInverseOffers, api.CallDeclineInverseOffers: // inverse.go
		c := call.AcceptInverseOffers
		if call.Type == api.CallDeclineInverseOffers {
			c = call.DeclineInverseOffers
		}
		if c == nil {
			return missing(map[string]string{api.CallAcceptInverseOffers: "accept_inverse_offers", api.CallDeclineInverseOffers: "decline_inverse_offers"}[call.Type])
		}
		return m.AnswerInverseOffers(s, *c, call.Type == api.CallAcceptInverseOffers)
	case api.CallUpdateFramework: // updateframework.go
		if call.UpdateFramework == nil {
			return missing("update_framework")
		}
		return m.UpdateFramework(s, *call.UpdateFramework)
	case api.CallReconcileOperations: // opfeedback.go
		if call.ReconcileOperations == nil {
			return missing("reconcile_operations")
		}
		return m.ReconcileOperations(s, *call.ReconcileOperations)
	case api.CallAcknowledgeOpStatus: // opfeedback.go
		if call.AcknowledgeOperationStatus == nil {
			return missing("acknowledge_operation_status")
		}
		return m.AcknowledgeOperationStatus(s, *call.AcknowledgeOperationStatus)
	case api.CallShutdown: // executor.go
		if call.Shutdown == nil {
			return missing("shutdown")
		}
		return m.Shutdown(s, *call.Shutdown)
	case api.CallMessage:
		if call.Message == nil {
			return missing("message")
		}
		return m.FrameworkMessage(s, *call.Message)
	case api.CallRequest:
		// Best effort in Mesos, and ignored by its allocator: accepted,
		// after the usual subscription check.
		m.mu.Lock()
		defer m.mu.Unlock()
		_, err := m.callerLocked(s)
		return err
	case "":
		return missing("type")
	}
	return fmt.Errorf("%w: call type %q is not supported by nodectl", ErrBadCall, call.Type)
}

// serveSubscription answers SUBSCRIBE: 200, Mesos-Stream-Id, then the
// RecordIO-framed events (SUBSCRIBED first), with a HEARTBEAT every
// HeartbeatInterval. The framework disconnects when the stream ends.
func (m *Master) serveSubscription(w http.ResponseWriter, r *http.Request, call api.Call, out wireCodec) {
	if r.Header.Get(api.StreamIDHeader) != "" {
		schedError(w, http.StatusBadRequest, "Expecting no 'Mesos-Stream-Id' header on SUBSCRIBE")
		return
	}
	if call.Subscribe == nil {
		schedError(w, http.StatusBadRequest, "Expecting 'subscribe' to be present")
		return
	}
	info := call.Subscribe.FrameworkInfo
	if call.FrameworkID != nil && call.FrameworkID.Value != "" && (info.ID == nil || info.ID.Value != call.FrameworkID.Value) {
		schedError(w, http.StatusBadRequest, "'framework_id' differs from 'subscribe.framework_info.id'")
		return
	}
	p, err := m.authorizeSubscribe(r, &info)
	if err != nil {
		schedError(w, errStatus(err), err.Error())
		return
	}
	var authz *auth.Principal
	if m.cfg.Guard != nil {
		authz = &p
	}
	m.closeStreamsOnShutdown(r)
	q := NewEventQueue()
	sub, err := m.Subscribe(SubscribeRequest{Info: info, SuppressedRoles: call.Subscribe.SuppressedRoles, Sink: q, Authz: authz})
	if err != nil {
		schedError(w, errStatus(err), err.Error())
		return
	}
	defer m.Unsubscribe(sub)
	// SUBSCRIBED waits in q until the framework's record is in etcd: a
	// master killed right after it must not leave a subscribed framework
	// that the next leader has never heard of.
	sctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	err = m.wb.sync(sctx)
	cancel()
	if err != nil {
		schedError(w, http.StatusServiceUnavailable, "the subscription could not be recorded: "+err.Error())
		return
	}
	out.setStreamHeaders(w.Header())
	w.Header().Set(api.StreamIDHeader, sub.StreamID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	hb := time.NewTicker(m.cfg.HeartbeatInterval)
	defer hb.Stop()
	heartbeat := api.Event{Type: api.EventHeartbeat}
	for {
		var evs []api.Event
		var qerr error
		select {
		case <-r.Context().Done():
			return
		case <-m.closing:
			return
		case <-hb.C:
			evs = []api.Event{heartbeat}
		case <-q.Ready():
			evs, qerr = q.poll()
		}
		for i := range evs {
			if err := writeEventRecord(w, out, &evs[i]); err != nil {
				// Only a bug in nodectl's .proto files can fail to
				// encode: say so, and end the stream rather than skip
				// an event.
				m.log.Error("scheduler stream", "framework", sub.FrameworkID, "err", err)
				return
			}
		}
		if err := rc.Flush(); err != nil || qerr != nil {
			return
		}
	}
}

// schedError answers a scheduler call with a text body, as Mesos does.
func schedError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}
