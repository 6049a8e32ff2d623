package driver

import (
	"testing"

	"github.com/nautilus-mq/nautilus/broker/metadata/sim"
)

// TestShedUnderBacklog checks the inbound overload guard: a message Shed
// refuses at the current backlog is counted and not queued, everything
// else is queued, and a closed driver queues nothing.
func TestShedUnderBacklog(t *testing.T) {
	d := newDriver(nil, nil, nil, Backend[sim.Core]{
		Name: "test",
		Shed: func(msg []byte, backlog int64) bool { return msg[0] == 's' && backlog > 2 },
	})
	h := handler[sim.Core]{d}
	h.HandleMessage("p", []byte("s")) // backlog 0: queued
	h.HandleMessage("p", []byte("k"))
	h.HandleMessage("p", []byte("k")) // backlog now 3
	h.HandleMessage("p", []byte("s")) // shed
	h.HandleMessage("p", []byte("k")) // queued anyway
	if got := d.Counters().Shed; got != 1 {
		t.Fatalf("shed %d messages; want 1", got)
	}
	if len(d.inbox) != 4 || d.backlog.Load() != 4 {
		t.Fatalf("queued %d (backlog %d); want 4", len(d.inbox), d.backlog.Load())
	}
	close(d.stop)
	h.HandleMessage("p", []byte("k")) // closed: not queued
	if len(d.inbox) != 4 {
		t.Fatalf("a closed driver queued a message")
	}
}
