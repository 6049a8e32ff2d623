package broker_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/store"
)

// failing fails every operation of one kind once switched on: writes, as a full disk would,
// or syncs, as a failing device would.
type failing struct {
	op  store.Op
	err error
	on  atomic.Bool
}

func (f *failing) MaybeError(op store.Op) error {
	if f.on.Load() && op == f.op {
		return f.err
	}
	return nil
}

// offlineSubscriberOnFailingDisk starts a broker whose store writes fail once faults.on is set,
// with an offline persistent session subscribed to disk/#.
func offlineSubscriberOnFailingDisk(t *testing.T) (*brokertest.Node, *brokertest.Log, *failing) {
	t.Helper()
	faults := &failing{op: store.OpWrite, err: errors.New("injected: no space left on device")}
	n, log := brokertest.StartWith(t, nil, broker.Options{StoreFaults: faults})
	sub, _ := brokertest.Connect(t, n.Addr, packet.V311, "offline", func(c *packet.Connect) { c.CleanStart = false })
	sub.Subscribe(1, 1, "disk/#")
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed()
	return n, log, faults
}

// TestStoreFailureRefusesPersistentMessages: when the message store cannot write, a message
// for an offline persistent subscriber is refused — PUBACK/PUBREC 0x80 for MQTT 5, a closed
// connection for 3.1.1 (which has no negative acknowledgement) — with a log line; other
// traffic goes on, and the broker recovers when the disk does.
func TestStoreFailureRefusesPersistentMessages(t *testing.T) {
	n, log, faults := offlineSubscriberOnFailingDisk(t)

	live, _ := brokertest.Connect(t, n.Addr, packet.V5, "live", nil)
	live.Subscribe(1, 0, "other/#")

	faults.on.Store(true)
	pub5, _ := brokertest.Connect(t, n.Addr, packet.V5, "pub5", nil)
	pub5.Send(&packet.Publish{Topic: "disk/1", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a, ok := pub5.Read().(*packet.Puback); !ok || a.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("PUBACK while the store fails = %+v; want 0x80", a)
	}
	pub5.Send(&packet.Publish{Topic: "disk/2", QoS: 2, PacketID: 2, Payload: []byte("y")})
	if r, ok := pub5.Read().(*packet.Pubrec); !ok || r.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("PUBREC while the store fails = %+v; want 0x80", r)
	}
	pub3, _ := brokertest.Connect(t, n.Addr, packet.V311, "pub3", nil)
	pub3.Send(&packet.Publish{Topic: "disk/3", QoS: 1, PacketID: 1, Payload: []byte("z")})
	if got := pub3.ExpectClosed(); len(got) != 0 {
		t.Fatalf("3.1.1 publisher got %v; want the connection closed without PUBACK", got)
	}
	// A message nobody persistent wants still flows.
	pub5.Send(&packet.Publish{Topic: "other/1", Payload: []byte("fine")})
	if p, ok := live.Read().(*packet.Publish); !ok || string(p.Payload) != "fine" {
		t.Fatalf("unrelated traffic stopped: %+v", p)
	}
	// The store applies writes in batches, so the failure shows when the message is waited
	// for rather than when it is queued.
	if !log.Contains(`msg="publishes refused" cause="not durable for a persistent subscriber or a peer: `) {
		t.Fatalf("no log line for the refused message:\n%s", log.String())
	}

	faults.on.Store(false)
	pub5.Send(&packet.Publish{Topic: "disk/4", QoS: 1, PacketID: 3, Payload: []byte("ok")})
	if a, ok := pub5.Read().(*packet.Puback); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("PUBACK after recovery = %+v", a)
	}
	back, _ := brokertest.Connect(t, n.Addr, packet.V311, "offline", func(c *packet.Connect) { c.CleanStart = false })
	if p, ok := back.Read().(*packet.Publish); !ok || string(p.Payload) != "ok" {
		t.Fatalf("after recovery the subscriber got %+v; want only the stored message", p)
	}
}

// TestStoreSyncFailureStopsPersistence: with store.sync = always, a failed fsync refuses the
// message it was for (PUBACK 0x80), and from then on the store refuses every write — after a
// failed fsync the kernel may have dropped dirty pages, so what is durable is unknown — until
// the broker is restarted; messages no persistent session needs still flow, and the log says
// what to do.
func TestStoreSyncFailureStopsPersistence(t *testing.T) {
	faults := &failing{op: store.OpSync, err: errors.New("injected: fsync: input/output error")}
	n, log := brokertest.StartWith(t, func(c *config.Config) { c.Store.Sync = config.SyncAlways }, broker.Options{StoreFaults: faults})
	sub, _ := brokertest.Connect(t, n.Addr, packet.V311, "offline", func(c *packet.Connect) { c.CleanStart = false })
	sub.Subscribe(1, 1, "disk/#")
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed()
	live, _ := brokertest.Connect(t, n.Addr, packet.V5, "live", nil)
	live.Subscribe(1, 0, "other/#")
	pub, _ := brokertest.Connect(t, n.Addr, packet.V5, "pub", nil)

	faults.on.Store(true)
	pub.Send(&packet.Publish{Topic: "disk/1", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a, ok := pub.Read().(*packet.Puback); !ok || a.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("PUBACK when the fsync fails = %+v; want 0x80", a)
	}
	faults.on.Store(false) // the disk answers again, but the store stays stopped
	pub.Send(&packet.Publish{Topic: "disk/2", QoS: 1, PacketID: 2, Payload: []byte("y")})
	if a, ok := pub.Read().(*packet.Puback); !ok || a.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("PUBACK after a failed fsync = %+v; want 0x80 until a restart", a)
	}
	pub.Send(&packet.Publish{Topic: "other/1", Payload: []byte("fine")})
	if p, ok := live.Read().(*packet.Publish); !ok || string(p.Payload) != "fine" {
		t.Fatalf("traffic without persistence stopped: %+v", p)
	}
	if !log.Contains("engine stopped after a failed sync; reopen it") {
		t.Fatalf("the log does not say the store stopped:\n%s", log.String())
	}
}
