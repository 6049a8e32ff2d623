package admin

import (
	"html/template"
	"net/http"
	"time"
)

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="10">
<title>Nautilus {{.Status.Node}}</title>
<style>
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.8em; text-align: left; }
th { background: #eee; }
.alive { color: #070; } .failed { color: #b00; } .left, .leaving { color: #777; }
</style>
</head>
<body>
<h1>Nautilus node {{.Status.Node}}</h1>
<table>
<tr><th>version</th><td>{{.Status.Version}}</td></tr>
<tr><th>metadata backend</th><td>{{.Status.Backend}}</td></tr>
<tr><th>uptime</th><td>{{.Uptime}}</td></tr>
<tr><th>connections</th><td>{{.Status.Connections}}</td></tr>
<tr><th>sessions</th><td>{{.Status.Sessions}}</td></tr>
<tr><th>subscriptions</th><td>{{.Status.Subscriptions}}</td></tr>
<tr><th>retained messages</th><td>{{.Status.Retained}}</td></tr>
</table>
<h2>Cluster{{if not .Cluster.Clustered}} (not clustered){{end}}</h2>
<table>
<tr><th>node</th><th>status</th><th>gossip</th><th>link</th><th>link up</th></tr>
{{range .Cluster.Members}}<tr><td>{{.Node}}{{if .Self}} (this node){{end}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Gossip}}</td><td>{{.Link}}</td><td>{{if .Self}}&ndash;{{else if .LinkUp}}yes{{else}}no{{end}}</td></tr>
{{end}}</table>
<h2>Listeners</h2>
<table>
<tr><th>name</th><th>kind</th><th>address</th><th>connections</th></tr>
{{range .Status.Listeners}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Address}}</td><td>{{.Connections}}</td></tr>
{{end}}</table>
<p><a href="/api/v1/status">status (JSON)</a> &middot; <a href="/api/v1/cluster">cluster (JSON)</a> &middot; <a href="/metrics">metrics</a></p>
</body>
</html>
`))

// page is the status page: the node's status and the cluster's members as HTML tables.
func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	st := s.statusInfo()
	data := struct {
		Status  Status
		Cluster Cluster
		Uptime  time.Duration
	}{st, s.clusterInfo(), time.Duration(st.UptimeSeconds) * time.Second}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTemplate.Execute(w, data); err != nil {
		s.opts.Log.Warn("admin: status page", "err", err)
	}
}
