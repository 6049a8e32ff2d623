package admin

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/nautilus-mq/nautilus/broker/metrics"
)

// metrics serves the node's registry in the Prometheus text format (version 0.0.4), every
// sample labelled with the node name, followed by the cluster's per-peer counters on a
// clustered node. Names are the registry's (VerneMQ's: mqtt_publish_received, socket_open…).
func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	WritePrometheus(bw, s.nodename(), s.opts.Node.Metrics().Snapshot())
	if cn := s.opts.Node.ClusterNode(); cn != nil {
		node := `node="` + escapeLabel(s.nodename()) + `"`
		writeHeader(bw, "cluster_members", "live cluster members, this node included", "gauge")
		fmt.Fprintf(bw, "cluster_members{%s} %d\n", node, len(cn.Members()))
		peers := cn.Stats().Peers
		for _, m := range []struct {
			name, help, typ string
			val             func(p int) uint64
		}{
			{"cluster_peer_up", "1 while a peer link is established", "gauge", func(i int) uint64 { return b2u(peers[i].Up) }},
			{"cluster_bytes_sent", "bytes written on peer links", "counter", func(i int) uint64 { return peers[i].BytesOut }},
			{"cluster_bytes_received", "bytes read from peer links", "counter", func(i int) uint64 { return peers[i].BytesIn }},
			{"cluster_messages_dropped", "messages refused because a peer's outgoing buffer was full", "counter", func(i int) uint64 { return peers[i].Drops }},
		} {
			if len(peers) == 0 {
				break
			}
			writeHeader(bw, m.name, m.help, m.typ)
			for i, p := range peers {
				fmt.Fprintf(bw, "%s{%s,peer=\"%s\"} %d\n", m.name, node, escapeLabel(p.Node), m.val(i))
			}
		}
	}
	_ = bw.Flush()
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// WritePrometheus writes samples in the Prometheus text format, labelled node="<node>".
func WritePrometheus(w io.Writer, node string, samples []metrics.Sample) {
	label := `{node="` + escapeLabel(node) + `"}`
	for _, m := range samples {
		typ := "gauge"
		if m.Kind == metrics.KindCounter {
			typ = "counter"
		}
		writeHeader(w, m.Name, m.Help, typ)
		fmt.Fprintf(w, "%s%s %d\n", m.Name, label, m.Value)
	}
}

func writeHeader(w io.Writer, name, help, typ string) {
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}
