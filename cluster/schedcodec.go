package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

// Content negotiation of the Mesos v1 HTTP APIs (scheduler and operator):
// requests in application/json or application/x-protobuf, responses in
// whichever the client's Accept prefers. A stream (the scheduler's
// SUBSCRIBE) is RecordIO-framed records of that type, announced as the
// type itself (Accept: application/x-protobuf) or, when the client asks
// for application/recordio, as that with Message-Content-Type naming the
// records' type (Message-Accept picks it), as Mesos'
// docs/scheduler-http-api.md and docs/recordio.md describe.
//
// The handlers speak only JSON: a protobuf request is translated to
// Mesos JSON before them and their JSON answer to protobuf after
// (cluster/api/mesospb), so both codecs reach the same code.

// wireCodec is one side's format.
type wireCodec struct {
	proto    bool // application/x-protobuf, else application/json
	recordio bool // a stream announced as application/recordio
}

func (c wireCodec) mediaType() string {
	if c.proto {
		return mesospb.MediaProtobuf
	}
	return mesospb.MediaJSON
}

// setStreamHeaders announces a RecordIO stream of records in c.
func (c wireCodec) setStreamHeaders(h http.Header) {
	if c.recordio {
		h.Set("Content-Type", mesospb.MediaRecordIO)
		h.Set("Message-Content-Type", c.mediaType())
		return
	}
	h.Set("Content-Type", c.mediaType())
}

// encode turns the JSON a handler wrote into c's format as message name.
func (c wireCodec) encode(name string, js []byte) ([]byte, error) {
	if !c.proto {
		return js, nil
	}
	return mesospb.FromJSON(name, js)
}

// requestCodec reads a request's Content-Type; ok is false for anything
// but JSON and protobuf.
func requestCodec(ct string) (wireCodec, bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return wireCodec{}, false
	}
	switch mt {
	case mesospb.MediaJSON:
		return wireCodec{}, true
	case mesospb.MediaProtobuf:
		return wireCodec{proto: true}, true
	}
	return wireCodec{}, false
}

// preferred picks JSON or protobuf from an Accept-style header: the
// acceptable type of highest q, JSON on a tie (Mesos checks JSON first)
// and for wildcards and an empty header. recordio reports that the best
// match was application/recordio (streams only).
func preferred(accept string, recordioOK bool) (c wireCodec, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return wireCodec{}, true
	}
	best := -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, has := params["q"]; has {
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				q = v
			}
		}
		if q <= 0 {
			continue
		}
		var cand wireCodec
		switch mt {
		case mesospb.MediaJSON, "application/*", "*/*":
		case mesospb.MediaProtobuf:
			cand.proto = true
		case mesospb.MediaRecordIO:
			if !recordioOK {
				continue
			}
			cand.recordio = true
		default:
			continue
		}
		if q > best || q == best && !cand.proto && !cand.recordio && (c.proto || c.recordio) {
			best, c = q, cand
		}
	}
	return c, best > 0
}

// streamCodec is the format of a SUBSCRIBE stream: Accept, and with
// Accept: application/recordio, Message-Accept for the records.
func streamCodec(h http.Header) (wireCodec, bool) {
	c, ok := preferred(h.Get("Accept"), true)
	if !ok || !c.recordio {
		return c, ok
	}
	m, ok := preferred(h.Get("Message-Accept"), false)
	m.recordio = true
	return m, ok
}

// decodeSchedulerBody reads a scheduler call in c's format as Mesos JSON.
func decodeSchedulerBody(c wireCodec, body []byte) ([]byte, error) {
	if !c.proto {
		return body, nil
	}
	return mesospb.ToJSON(mesospb.SchedulerCall, body)
}

// writeEventRecord writes one event as a RecordIO record in c's format.
func writeEventRecord(w io.Writer, c wireCodec, ev *api.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if b, err = c.encode(mesospb.SchedulerEvent, b); err != nil {
		return fmt.Errorf("encode %s event: %w", ev.Type, err)
	}
	return api.WriteRecord(w, b)
}
