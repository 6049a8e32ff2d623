package store

// Keyspace names one column family. RocksDB refuses to open a database without naming every
// column family it holds, so Open also opens families it was not asked for (see Options).
type Keyspace string

// The keyspaces every node's database has.
const (
	Messages   Keyspace = "messages"    // message payloads, reference counted by msgstore
	QueueIndex Keyspace = "queue_index" // per-subscriber queue entries pointing at messages
	Metadata   Keyspace = "metadata"    // the replicated metadata backend's default keyspace
	Receipts   Keyspace = "receipts"    // which queues took each unreleased incoming QoS 2 message (msgstore)
)

// DefaultKeyspaces are opened by every engine, whatever Options.ExtraKeyspaces adds.
var DefaultKeyspaces = []Keyspace{Messages, QueueIndex, Metadata, Receipts}

// keyspaceList merges the defaults with extra, dropping duplicates and keeping order.
func keyspaceList(extra []Keyspace) []Keyspace {
	out := append([]Keyspace(nil), DefaultKeyspaces...)
	seen := map[Keyspace]bool{}
	for _, ks := range out {
		seen[ks] = true
	}
	for _, ks := range extra {
		if !seen[ks] && ks != "" && ks != "default" {
			seen[ks] = true
			out = append(out, ks)
		}
	}
	return out
}
