package api

// Paths of the master-membership endpoints on the master port:
//
//	GET    /master/members               the quorum and its health (Quorum)
//	POST   /master/members               add the caller as a learner (JoinRequest → JoinResponse)
//	POST   /master/members/{id}/promote  make a caught-up learner a voter
//	DELETE /master/members/{id}          remove a member
//	GET    /master/snapshot              an etcd snapshot of the state
//
// (POST /master/join, the token + certificate exchange, comes first when
// the cluster has a CA; see cluster/pki.)
const (
	PathMembers  = "/master/members"
	PathSnapshot = "/master/snapshot"
)

// JoinRequest asks an existing master to add the caller to the etcd
// cluster as a learner. Token is the join token when the cluster has no CA
// to check the caller's certificate against (see Config.AuthorizeJoin).
type JoinRequest struct {
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls,omitempty"`
	Token      string   `json:"token,omitempty"`
}

// JoinResponse tells the joiner how to start its etcd member.
type JoinResponse struct {
	// MemberID is the new member's etcd id, hex.
	MemberID string `json:"member_id"`
	// InitialCluster is etcd's --initial-cluster for the joiner, itself included.
	InitialCluster string   `json:"initial_cluster"`
	Members        []Member `json:"members"`
}

// Member is one etcd member of the master quorum.
type Member struct {
	ID         string   `json:"id"` // hex, as etcdctl prints it
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	Learner    bool     `json:"learner"`
	// Started is false for a member added but not yet running.
	Started bool `json:"started"`
	// Healthy: its etcd answered a status call just now.
	Healthy bool `json:"healthy"`
	// Leader: it is etcd's Raft leader.
	Leader bool `json:"leader"`
	// Master is the API address (host:port) of the nodectl master on
	// that member, when it is up.
	Master string `json:"master,omitempty"`
	// Version is the nodectl version of that master, when it is up (""
	// also from masters older than this field).
	Version string `json:"version,omitempty"`
	// DBSize and DBSizeInUse are its database file's size and the part
	// holding data, in bytes (0: unknown).
	DBSize      int64 `json:"db_size,omitempty"`
	DBSizeInUse int64 `json:"db_size_in_use,omitempty"`
}

// Quorum is the health of the master quorum (the etcd cluster), shown as
// "masters" in /state and by `nodectl master list`.
type Quorum struct {
	Members []Member `json:"members"`
	// Voters and Learners count the members; Quorum is the majority of
	// voters needed for writes; HealthyVoters is how many answered.
	Voters        int  `json:"voters"`
	Learners      int  `json:"learners"`
	Quorum        int  `json:"quorum"`
	HealthyVoters int  `json:"healthy_voters"`
	Healthy       bool `json:"healthy"`
	// EtcdLeader is the id of the Raft leader ("" when none is known);
	// RaftTerm is the Raft term seen.
	EtcdLeader string `json:"etcd_leader"`
	RaftTerm   uint64 `json:"raft_term"`
	// Leader is the leading nodectl master's address.
	Leader string `json:"leader,omitempty"`
	// LeaderChanges counts the leader changes this master observed.
	LeaderChanges int `json:"leader_changes"`
	// DBQuota is etcd's database quota in bytes (0: unknown).
	DBQuota int64 `json:"db_quota,omitempty"`
	// Alarms are etcd's active alarms, e.g. "NOSPACE" (the database is
	// full: writes fail until it is recovered, docs/ha.md).
	Alarms []string `json:"alarms,omitempty"`
}

// AlarmNoSpace is etcd's alarm for a full database.
const AlarmNoSpace = "NOSPACE"
