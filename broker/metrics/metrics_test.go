package metrics

import "testing"

func TestRegistrySnapshot(t *testing.T) {
	r := NewRegistry()
	b := NewBroker(r)
	b.PublishIn.Add(3)
	b.Connections.Add(2)
	b.Connections.Add(-1)
	r.GaugeFunc("retain_messages", "retained", func() int64 { return 7 })
	got := map[string]int64{}
	prev := ""
	for _, s := range r.Snapshot() {
		if s.Name < prev {
			t.Fatalf("snapshot not sorted: %s after %s", s.Name, prev)
		}
		prev = s.Name
		got[s.Name] = s.Value
	}
	if got["mqtt_publish_received"] != 3 || got["socket_open"] != 1 || got["retain_messages"] != 7 {
		t.Fatalf("snapshot %v", got)
	}
}
