package api

import "net/http"

// Fencing of removed agents. An operator can mark an agent gone
// (POST /master/agents/{id}/gone). From then on the master refuses every
// request naming that agent id — register/re-register, ping, message
// stream, status update — with StatusAgentRemoved and an AgentRemoved body
// whose Shutdown is true, and closes the agent's stream. The agent must
// kill all its tasks, forget its id and register anew (empty id): the
// master already ended those tasks (TASK_GONE_BY_OPERATOR, or TASK_LOST
// for frameworks that are not partition-aware), so none may run on.
//
// This is Mesos' ShutdownMessage "Agent has been marked gone" (https://mesos.apache.org/documentation/latest/high-availability-framework-guide/).

// StatusAgentRemoved is the HTTP status of a refusal to a removed agent.
const StatusAgentRemoved = http.StatusGone

// AgentRemoved is the JSON body of a StatusAgentRemoved answer. It
// decodes as an Error too.
type AgentRemoved struct {
	Message  string `json:"message"`
	Shutdown bool   `json:"shutdown"`
}

// NewAgentRemoved is the refusal for agent id.
func NewAgentRemoved(id string) AgentRemoved {
	return AgentRemoved{Message: "agent " + id + " has been removed: register anew", Shutdown: true}
}
