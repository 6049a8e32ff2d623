package admin

// The JSON documents of the API, shared by the server and Client.

// Member is one cluster member as GET /api/v1/cluster reports it.
type Member struct {
	Node   string `json:"node"`
	Status string `json:"status"` // alive, leaving, left, failed
	Gossip string `json:"gossip,omitempty"`
	Link   string `json:"link,omitempty"`
	Self   bool   `json:"self,omitempty"`
	LinkUp bool   `json:"link_up,omitempty"` // a peer link to it is established
}

// Cluster is GET /api/v1/cluster.
type Cluster struct {
	Node      string   `json:"node"`
	Clustered bool     `json:"clustered"` // the node has a listener.vmq
	Backend   string   `json:"backend"`
	Gossip    string   `json:"gossip,omitempty"`
	Link      string   `json:"link,omitempty"`
	Members   []Member `json:"members"`
}

// JoinRequest is the body of POST /api/v1/cluster/join.
type JoinRequest struct {
	Address string `json:"address"` // gossip address host:port of any member
}

// LeaveRequest is the body of POST /api/v1/cluster/leave.
type LeaveRequest struct {
	Node string `json:"node"` // empty = this node
	// KillSessions ends the leaving node's sessions (and drops their messages) instead of
	// handing them to the remaining members, as VerneMQ's --kill-sessions.
	KillSessions bool `json:"kill_sessions,omitempty"`
}

// LeaveResult answers a leave.
type LeaveResult struct {
	Node   string `json:"node"`
	Action string `json:"action"` // "left" (this node left) or "removed" (a failed node was removed)
	Note   string `json:"note,omitempty"`
	// What a leaving node did with its persistent sessions: handed to other members, or ended
	// (kill_sessions). Clean sessions end with their connections and are not counted.
	SessionsMoved int `json:"sessions_moved"`
	SessionsEnded int `json:"sessions_ended"`
}

// ListenerStatus is one MQTT listener in the status.
type ListenerStatus struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Address     string `json:"address,omitempty"` // empty while not running
	Connections int64  `json:"connections"`
}

// Status is GET /api/v1/status.
type Status struct {
	Node           string           `json:"node"`
	Version        string           `json:"version"`
	Backend        string           `json:"backend"`
	UptimeSeconds  int64            `json:"uptime_seconds"`
	Connections    int64            `json:"connections"`
	Sessions       int64            `json:"sessions"` // online and offline, on this node
	Subscriptions  int64            `json:"subscriptions"`
	Retained       int64            `json:"retained"`
	Clustered      bool             `json:"clustered"`
	ClusterMembers int              `json:"cluster_members"` // live members, this node included
	Listeners      []ListenerStatus `json:"listeners"`
}

// SessionInfo is GET /api/v1/sessions?client_id=…
type SessionInfo struct {
	Node       string `json:"node"`
	Mountpoint string `json:"mountpoint"`
	ClientID   string `json:"client_id"`
	Exists     bool   `json:"exists"` // this node holds the session
	Online     bool   `json:"online"` // a connection is attached to it
	// Peer is the connected client's address as hooks and logs see it: after PROXY protocol
	// or X-Forwarded-For resolution, so the client's, not the load balancer's. Empty when
	// offline.
	Peer string `json:"peer"`
	// Listener is the listener the connection came through (listener.tcp.default); empty when
	// offline.
	Listener string `json:"listener"`
	// Connections is how many connections are attached: more than one only when they share
	// the session (allow_multiple_sessions); Peer and Listener are the first one's.
	Connections int `json:"connections"`
}

// ReloadRequest is the body of POST /api/v1/listeners/reload; the body may be left out.
type ReloadRequest struct {
	// Listener names one listener (listener.ssl.default, or ssl.default); empty = every TLS
	// listener (ssl and wss) of the node.
	Listener string `json:"listener,omitempty"`
}

// ListenerReload is what one listener did on a reload.
type ListenerReload struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Reloaded bool   `json:"reloaded"`
	// Error says why the files did not load; the listener keeps serving its previous
	// certificates then.
	Error string `json:"error,omitempty"`
}

// ReloadResult answers a reload: 200 when every listener reloaded, 500 with Error set (and
// the per-listener outcome) when one did not.
type ReloadResult struct {
	Node      string           `json:"node"`
	Listeners []ListenerReload `json:"listeners"`
	Error     string           `json:"error,omitempty"`
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}
