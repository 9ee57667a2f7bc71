package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"nodectl/cluster/api/mesospb"
)

// writeOperatorAnswer answers an operator call of type typ with body as
// its response field ({"type": typ, "<typ lowercased>": body}), in JSON or,
// when asProto, as master.proto's Response.
func (m *Master) writeOperatorAnswer(w http.ResponseWriter, typ string, body any, asProto bool) {
	js, err := json.Marshal(map[string]any{"type": typ, strings.ToLower(typ): body})
	if err == nil && asProto {
		js, err = mesospb.FromJSON(mesospb.OperatorResponse, js)
	}
	if err != nil {
		m.log.Error("operator API: encode response", "call", typ, "err", err)
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("operator call %s: encode: %v", typ, err))
		return
	}
	w.Header().Set("Content-Type", mesospb.MediaJSON)
	if asProto {
		w.Header().Set("Content-Type", mesospb.MediaProtobuf)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(js)
}
