package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/listener"
)

// maxBody bounds a request body; the API's bodies are a few bytes.
const maxBody = 64 << 10

type route struct {
	method string
	open   func(*Server) bool // no key needed when it returns true
	h      func(*Server, http.ResponseWriter, *http.Request)
}

var routes = map[string][]route{
	"/":                        {{method: http.MethodGet, h: (*Server).page}},
	"/api/v1/status":           {{method: http.MethodGet, h: (*Server).status}},
	"/api/v1/cluster":          {{method: http.MethodGet, h: (*Server).cluster}},
	"/api/v1/cluster/join":     {{method: http.MethodPost, h: (*Server).join}},
	"/api/v1/cluster/leave":    {{method: http.MethodPost, h: (*Server).leave}},
	"/api/v1/sessions":         {{method: http.MethodGet, h: (*Server).session}},
	"/api/v1/listeners/reload": {{method: http.MethodPost, h: (*Server).reloadListeners}},
	"/metrics":                 {{method: http.MethodGet, h: (*Server).metrics, open: func(s *Server) bool { return !s.opts.Config.Admin.MetricsRequireKey }}},
}

// newHandler routes, checks the key, and bounds each request by the request timeout (503
// with a JSON error past it).
func (s *Server) newHandler() http.Handler {
	timeoutBody, _ := json.Marshal(Error{Error: fmt.Sprintf("the request did not finish within admin.request_timeout (%v)", s.timeout)})
	inner := http.TimeoutHandler(http.HandlerFunc(s.serve), s.timeout, string(timeoutBody))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The timeout answer carries no type of its own; handlers set theirs.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		inner.ServeHTTP(w, r)
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rs, ok := routes[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (see docs/admin.md)")
		return
	}
	i := slices.IndexFunc(rs, func(rt route) bool { return rt.method == r.Method })
	if i < 0 {
		var allowed []string
		for _, rt := range rs {
			allowed = append(allowed, rt.method)
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s", r.URL.Path, strings.Join(allowed, ", ")))
		return
	}
	rt := rs[i]
	if rt.open == nil || !rt.open(s) {
		if msg := s.checkKey(r); msg != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="nautilus admin", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	rt.h(s, w, r)
}

// checkKey returns "" when the request carries the key, else why it is refused. The key may
// come as "Authorization: Bearer KEY", "X-API-Key: KEY", or HTTP basic auth with the key as
// user name or password (VerneMQ's curl http://KEY@host:8888/… form, and browsers).
func (s *Server) checkKey(r *http.Request) string {
	var offered []string
	if v := r.Header.Get("X-API-Key"); v != "" {
		offered = append(offered, v)
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		offered = append(offered, strings.TrimSpace(v))
	}
	if u, p, ok := r.BasicAuth(); ok {
		offered = append(offered, u, p)
	}
	if len(offered) == 0 {
		return "missing API key: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
	}
	for _, k := range offered {
		if k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(s.key)) == 1 {
			return ""
		}
	}
	return "wrong API key"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}

// readJSON decodes the request body into v; it reports a 400 and returns false on failure.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeBody(w, r, v, false)
}

// readOptionalJSON is readJSON for a body that may be left out (curl -X POST), leaving v as
// it is then.
func readOptionalJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeBody(w, r, v, true)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case err == nil, optional && errors.Is(err, io.EOF):
		return true
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "missing JSON body")
	default:
		writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
	}
	return false
}

func (s *Server) nodename() string { return s.opts.Config.Node.Nodename }

func (s *Server) clusterInfo() Cluster {
	c := Cluster{Node: s.nodename(), Backend: s.opts.Node.MetadataBackend()}
	cn := s.opts.Node.ClusterNode()
	if cn == nil {
		c.Members = []Member{{Node: c.Node, Status: "alive", Self: true}}
		return c
	}
	c.Clustered, c.Gossip, c.Link = true, cn.GossipAddr(), cn.LinkAddr()
	for _, m := range cn.MemberList() {
		c.Members = append(c.Members, Member{Node: m.Node, Status: m.Status, Gossip: m.Gossip, Link: m.Link, Self: m.Self, LinkUp: m.LinkUp})
	}
	return c
}

func (s *Server) cluster(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.clusterInfo())
}

func (s *Server) clusterNode(w http.ResponseWriter) *cluster.Node {
	cn := s.opts.Node.ClusterNode()
	if cn == nil {
		writeError(w, http.StatusConflict, "this node is not clustered: it has no listener.vmq.<name> (docs/clustering.md)")
	}
	return cn
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if !readJSON(w, r, &req) {
		return
	}
	if _, _, err := net.SplitHostPort(req.Address); err != nil || req.Address == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("address must be the gossip address host:port of a cluster member (cluster.gossip; by default its listener.vmq port + 1), got %q", req.Address))
		return
	}
	if s.clusterNode(w) == nil {
		return
	}
	if err := s.opts.Node.JoinCluster(req.Address); err != nil {
		// serf's multi-errors span lines; one line reads better in JSON and on a terminal.
		writeError(w, http.StatusBadGateway, strings.Join(strings.Fields(err.Error()), " "))
		return
	}
	s.opts.Log.Info("admin: joined the cluster", "address", req.Address, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, s.clusterInfo())
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request) {
	var req LeaveRequest
	if !readJSON(w, r, &req) {
		return
	}
	cn := s.clusterNode(w)
	if cn == nil {
		return
	}
	if req.Node == "" || req.Node == cn.Self() {
		res, err := s.opts.Node.LeaveCluster(r.Context(), req.KillSessions)
		if err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("%v (sessions handed off: %d, ended: %d, kept here: %d)", err, res.Moved, res.Ended, res.Failed))
			return
		}
		out := LeaveResult{Node: cn.Self(), SessionsMoved: res.Moved, SessionsEnded: res.Ended}
		s.opts.Log.Warn("admin: this node left the cluster; stop it (it cannot rejoin until restarted)", "remote", r.RemoteAddr,
			"sessions_moved", res.Moved, "sessions_ended", res.Ended)
		out.Action = "left"
		out.Note = "MQTT listeners stopped; every session was handed to another member or ended; stop this node (it cannot rejoin until restarted)"
		writeJSON(w, http.StatusOK, out)
		return
	}
	err := cn.RemoveFailed(req.Node)
	switch {
	case err == nil:
		s.opts.Log.Warn("admin: removed a failed node from the cluster", "member", req.Node, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, LeaveResult{Node: req.Node, Action: "removed",
			Note: "the node was down and is no longer a member; if it starts again with the same name and seeds it rejoins"})
	case errors.Is(err, cluster.ErrMemberAlive):
		writeError(w, http.StatusConflict, fmt.Sprintf("%s is alive: a live node leaves by itself; send the leave to its own admin API (nautilus admin --url <its API> cluster leave %s)", req.Node, req.Node))
	case errors.Is(err, cluster.ErrUnknownNode):
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s is not a member of this node's cluster", req.Node))
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("client_id")
	if id == "" {
		writeError(w, http.StatusBadRequest, "client_id is required: /api/v1/sessions?client_id=ID[&mountpoint=MP]")
		return
	}
	mp := q.Get("mountpoint")
	exists, online, conn := s.opts.Node.Session(mp, id)
	writeJSON(w, http.StatusOK, SessionInfo{Node: s.nodename(), Mountpoint: mp, ClientID: id, Exists: exists, Online: online,
		Peer: conn.Peer, Listener: conn.Listener, Connections: conn.Connections})
}

func (s *Server) statusInfo() Status {
	vals := map[string]int64{}
	for _, m := range s.opts.Node.Metrics().Snapshot() {
		vals[m.Name] = m.Value
	}
	st := Status{
		Node: s.nodename(), Version: version(), Backend: s.opts.Node.MetadataBackend(),
		UptimeSeconds: vals["uptime_seconds"], Connections: vals["socket_open"], Sessions: vals["queue_processes"],
		Subscriptions: vals["router_subscriptions"], Retained: vals["retain_messages"], ClusterMembers: 1,
		Listeners: []ListenerStatus{},
	}
	if cn := s.opts.Node.ClusterNode(); cn != nil {
		st.Clustered, st.ClusterMembers = true, len(cn.Members())
	}
	for _, l := range s.opts.Node.Listeners() {
		ls := ListenerStatus{Name: l.Name(), Kind: l.Kind(), Connections: l.Active()}
		if a := l.Addr(); a != nil {
			ls.Address = a.String()
		}
		st.Listeners = append(st.Listeners, ls)
	}
	return st
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.statusInfo())
}

// reloadListeners reads the certificate files of the TLS listeners again, so rotated
// certificates take effect at once instead of at the next poll of the files. A listener whose
// files do not load keeps its previous certificates, and the answer says which and why.
func (s *Server) reloadListeners(w http.ResponseWriter, r *http.Request) {
	var req ReloadRequest
	if !readOptionalJSON(w, r, &req) {
		return
	}
	targets, code, msg := s.reloadTargets(req.Listener)
	if msg != "" {
		writeError(w, code, msg)
		return
	}
	res := ReloadResult{Node: s.nodename(), Listeners: []ListenerReload{}}
	var failures []string
	for _, l := range targets {
		lr := ListenerReload{Name: l.Name(), Kind: l.Kind(), Reloaded: true}
		if err := l.Reload(); err != nil {
			// The listener's own name prefixes its error; the answer names it already.
			lr.Reloaded, lr.Error = false, strings.TrimPrefix(err.Error(), "listener "+l.Name()+": ")
			failures = append(failures, l.Name()+": "+lr.Error)
			s.opts.Log.Error("admin: certificate reload failed; the listener keeps its previous certificates",
				"listener", l.Name(), "error", err, "remote", r.RemoteAddr)
		}
		res.Listeners = append(res.Listeners, lr)
	}
	s.opts.Log.Info("admin: listener certificates reloaded", "listeners", len(targets), "failed", len(failures), "remote", r.RemoteAddr)
	if len(failures) > 0 {
		res.Error = fmt.Sprintf("%d of %d listeners could not load their certificate files and keep the previous certificates: %s",
			len(failures), len(targets), strings.Join(failures, "; "))
		writeJSON(w, http.StatusInternalServerError, res)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// reloadTargets picks the listeners a reload applies to: the one named (listener.ssl.x or
// ssl.x), or, with no name, every TLS listener. A name that fits none gets a status and why.
func (s *Server) reloadTargets(name string) ([]*listener.Listener, int, string) {
	if name != "" && !strings.HasPrefix(name, "listener.") {
		name = "listener." + name
	}
	var out []*listener.Listener
	for _, l := range s.opts.Node.Listeners() {
		switch {
		case name == "" && hasTLS(l):
			out = append(out, l)
		case l.Name() == name && !hasTLS(l):
			return nil, http.StatusBadRequest, fmt.Sprintf("%s is a %s listener: only ssl and wss listeners have certificates to reload", name, l.Kind())
		case l.Name() == name:
			return []*listener.Listener{l}, 0, ""
		}
	}
	if name != "" {
		return nil, http.StatusNotFound, fmt.Sprintf("this node has no MQTT listener %s (GET /api/v1/status lists them; listener.vmqs peer links load their certificates at start only)", name)
	}
	return out, 0, ""
}

func hasTLS(l *listener.Listener) bool { return l.Kind() == "ssl" || l.Kind() == "wss" }
