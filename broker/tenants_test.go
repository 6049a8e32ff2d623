package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/plugins/acl"
)

// Tenant isolation by mountpoint: two listeners with mountpoints tenant-a and tenant-b and the
// default listener without one. Clients of each use the same client ids and the same topics;
// nothing may cross in any direction.

var tenants = []string{"a", "b", "default"}

type tenantNode struct {
	*brokertest.Node
	addr map[string]string
}

func startTenants(t *testing.T, mutate func(*config.Config), plugins ...any) *tenantNode {
	t.Helper()
	n := brokertest.Start(t, func(c *config.Config) {
		for _, name := range []string{"a", "b"} {
			l := config.NewListener(config.ListenerTCP, "tenant-"+name, "127.0.0.1:0")
			l.Mountpoint = "tenant-" + name
			c.Listeners = append(c.Listeners, l)
		}
		if mutate != nil {
			mutate(c)
		}
	}, plugins...)
	return &tenantNode{Node: n, addr: map[string]string{
		"a": addrOf(t, n, "listener.tcp.tenant-a"), "b": addrOf(t, n, "listener.tcp.tenant-b"), "default": n.Addr,
	}}
}

func (n *tenantNode) client(t *testing.T, tenant, id string, edit func(*packet.Connect)) *rawConn {
	t.Helper()
	c := newRaw(t, dialTCP(t, n.addr[tenant]), packet.V311)
	ack, err := c.connect(id, edit)
	if err != nil || ack.ReasonCode != packet.Success {
		t.Fatalf("connect %s on %s: %v %v", id, tenant, ack, err)
	}
	return c
}

// expectOnly checks c receives exactly the payloads want (in any order), then nothing.
func expectOnly(t *testing.T, who string, c *rawConn, want ...string) {
	t.Helper()
	left := map[string]int{}
	for _, w := range want {
		left[w]++
	}
	for range want {
		m := c.expectMessage(5 * time.Second)
		if left[string(m.Payload)] == 0 {
			t.Fatalf("%s got %q on %q; want only %v", who, m.Payload, m.Topic, want)
		}
		left[string(m.Payload)]--
	}
	c.noMessage(100 * time.Millisecond)
}

func TestTenantIsolation(t *testing.T) {
	n := startTenants(t, nil)

	t.Run("same client ids", func(t *testing.T) {
		cs := map[string]*rawConn{}
		for _, tn := range tenants {
			cs[tn] = n.client(t, tn, "device", nil)
		}
		// No connection took another's session over: each still answers.
		for tn, c := range cs {
			c.send(&packet.Pingreq{})
			if p, err := c.read(5 * time.Second); err != nil {
				t.Fatalf("client id device on %s was disconnected: %v", tn, err)
			} else if _, ok := p.(*packet.Pingresp); !ok {
				t.Fatalf("%s: got %T", tn, p)
			}
		}
	})

	t.Run("messages and wildcards", func(t *testing.T) {
		subs := map[string][]*rawConn{}
		for _, tn := range tenants {
			for i, f := range []string{"#", "t/+", "+/x"} {
				c := n.client(t, tn, fmt.Sprintf("sub-%d", i), nil)
				c.subscribe(1, f)
				subs[tn] = append(subs[tn], c)
			}
		}
		for _, tn := range tenants {
			p := n.client(t, tn, "pub", nil)
			p.publish(1, false, "t/x", "from "+tn)
		}
		for _, tn := range tenants {
			for i, c := range subs[tn] {
				expectOnly(t, fmt.Sprintf("%s sub-%d", tn, i), c, "from "+tn)
			}
		}
	})

	t.Run("retained", func(t *testing.T) {
		for _, tn := range tenants {
			p := n.client(t, tn, "retainer", nil)
			p.publish(1, true, "r/1", "retained "+tn)
		}
		for _, tn := range tenants {
			c := n.client(t, tn, "late", nil)
			c.subscribe(1, "r/#")
			expectOnly(t, tn+" late subscriber", c, "retained "+tn)
		}
	})

	t.Run("shared subscriptions", func(t *testing.T) {
		members := map[string][]*rawConn{}
		for _, tn := range tenants {
			for i := range 2 {
				c := n.client(t, tn, fmt.Sprintf("member-%d", i), nil)
				c.subscribe(1, "$share/g/s/#")
				members[tn] = append(members[tn], c)
			}
		}
		for _, tn := range tenants {
			p := n.client(t, tn, "shared-pub", nil)
			for i := range 4 {
				p.publish(1, false, "s/1", fmt.Sprintf("%s-%d", tn, i))
			}
		}
		for _, tn := range tenants {
			got := map[string]bool{}
			for _, c := range members[tn] {
				for {
					p, err := c.read(300 * time.Millisecond)
					if err != nil {
						break
					}
					if m, ok := p.(*packet.Publish); ok {
						c.send(&packet.Puback{PacketID: m.PacketID})
						got[string(m.Payload)] = true
					}
				}
			}
			for i := range 4 {
				if !got[fmt.Sprintf("%s-%d", tn, i)] {
					t.Errorf("%s group missed %s-%d; got %v", tn, tn, i, got)
				}
			}
			if len(got) != 4 {
				t.Errorf("%s group got %v; want only its own 4", tn, got)
			}
		}
	})

	t.Run("wills", func(t *testing.T) {
		watchers := map[string]*rawConn{}
		for _, tn := range tenants {
			watchers[tn] = n.client(t, tn, "watcher", nil)
			watchers[tn].subscribe(1, "will/#")
		}
		// A will from tenant a, then one from the default listener: each reaches its own
		// watcher only.
		for _, from := range []string{"a", "default"} {
			dying := n.client(t, from, "dying", func(cp *packet.Connect) {
				cp.Will = &packet.Will{Topic: "will/gone", Payload: []byte(from + " is gone"), QoS: 1}
			})
			dying.nc.Close() // no DISCONNECT: the will is published
			expectOnly(t, from+" watcher", watchers[from], from+" is gone")
			for _, tn := range tenants {
				if tn != from {
					watchers[tn].noMessage(200 * time.Millisecond)
				}
			}
		}
	})
}

// $SYS is published in the default mountpoint only: a tenant subscribing to $SYS/# sees
// nothing of the node's metrics.
func TestTenantSysNotCrossed(t *testing.T) {
	n := startTenants(t, func(c *config.Config) {
		c.SysTree.Enabled, c.SysTree.Interval = true, 100*time.Millisecond
	})
	def := n.client(t, "default", "sys", nil)
	def.subscribe(0, "$SYS/#")
	ta := n.client(t, "a", "sys", nil)
	ta.subscribe(0, "$SYS/#")
	if m := def.expectMessage(5 * time.Second); len(m.Topic) < 5 || m.Topic[:5] != "$SYS/" {
		t.Fatalf("default mountpoint got %q", m.Topic)
	}
	ta.noMessage(500 * time.Millisecond)
}

// tenantAuth admits everyone; username "to-b" is moved into mountpoint tenant-b by the
// auth_on_register modifier, whatever listener it came through.
type tenantAuth struct{}

func (tenantAuth) AuthOnRegister(_ context.Context, r *hooks.Register) hooks.RegisterResult {
	res := hooks.RegisterResult{Verdict: hooks.Allow}
	if r.Username == "to-b" {
		mp := "tenant-b"
		res.Mountpoint = &mp
	}
	return res
}

func TestTenantMountpointModifierAndACL(t *testing.T) {
	aclPath := filepath.Join(t.TempDir(), "vmq.acl")
	// %m is the client's mountpoint: each tenant may use its own branch of data/.
	if err := os.WriteFile(aclPath, []byte("pattern readwrite data/%m/#\ntopic readwrite t/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startTenants(t, func(c *config.Config) { c.Auth.AllowAnonymous = false }, tenantAuth{}, acl.New(aclPath, nil))
	user := func(u string) func(*packet.Connect) {
		return func(cp *packet.Connect) { cp.UsernameFlag, cp.Username = true, u }
	}
	moved := n.client(t, "default", "moved", user("to-b"))
	moved.subscribe(1, "t/#")
	stay := n.client(t, "default", "stay", user("someone"))
	stay.subscribe(1, "t/#")
	n.client(t, "b", "pub-b", user("x")).publish(1, false, "t/1", "for b")
	expectOnly(t, "client moved into tenant-b", moved, "for b")
	stay.noMessage(200 * time.Millisecond)

	a := n.client(t, "a", "acl", user("x"))
	ack := a.subscribe(1, "data/tenant-a/#", "data/tenant-b/#")
	if len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0].Failure() || !ack.ReasonCodes[1].Failure() {
		t.Fatalf("SUBACK %v: want data/tenant-a granted, data/tenant-b refused", ack.ReasonCodes)
	}
}
