package plugins_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nautilus-mq/nautilus/broker/brokertest"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/plugins/acl"
	"github.com/nautilus-mq/nautilus/broker/plugins/passwd"
)

// files writes a password file (alice/wonderland, bob/builder) and the given ACL in a temp dir.
func files(t *testing.T, aclText string) (pwPath, aclPath string) {
	t.Helper()
	dir := t.TempDir()
	pwPath, aclPath = filepath.Join(dir, "vmq.passwd"), filepath.Join(dir, "vmq.acl")
	if err := passwd.SetPassword(pwPath, "alice", []byte("wonderland"), true, cheap); err != nil {
		t.Fatal(err)
	}
	if err := passwd.SetPassword(pwPath, "bob", []byte("builder"), false, cheap); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(aclPath, []byte(aclText), 0o600); err != nil {
		t.Fatal(err)
	}
	return pwPath, aclPath
}

// cheap is bcrypt at its least cost: these tests are about the plugins, not the hash.
var cheap = passwd.Scheme{Cost: 4}

func start(t *testing.T, pw *passwd.Plugin, a *acl.Plugin) *brokertest.Node {
	return brokertest.Start(t, func(c *config.Config) { c.Auth.AllowAnonymous = false }, pw, a)
}

func login(user, pw string) func(*packet.Connect) {
	return func(c *packet.Connect) {
		c.UsernameFlag, c.Username = true, user
		c.PasswordFlag, c.Password = true, []byte(pw)
	}
}

func TestRegisterThroughBroker(t *testing.T) {
	pwPath, aclPath := files(t, "topic #\n")
	pw := passwd.New(pwPath, nil)
	n := start(t, pw, acl.New(aclPath, nil))

	_, ack := brokertest.Connect(t, n.Addr, packet.V311, "c1", login("alice", "wonderland"))
	if ack.ReasonCode != packet.Success {
		t.Errorf("right credentials: CONNACK %v", ack.ReasonCode)
	}
	// 3.1.1: a wrong password and an unknown user both get return code 0x04; no user name
	// (all plugins answer next) gets 0x05.
	for _, c := range []struct {
		name string
		edit func(*packet.Connect)
		want packet.ReasonCode
	}{
		{"wrong password", login("alice", "wonderlant"), packet.BadUserNameOrPassword},
		{"unknown user", login("mallory", "wonderland"), packet.BadUserNameOrPassword},
		{"no credentials", nil, packet.NotAuthorized},
	} {
		r, ack := brokertest.Connect(t, n.Addr, packet.V311, "c2", c.edit)
		if ack.ReasonCode != c.want {
			t.Errorf("%s: CONNACK %v, want %v", c.name, ack.ReasonCode, c.want)
		}
		if b, _ := ack.ReasonCode.ForPacket(packet.CONNACK, packet.V311); c.want == packet.BadUserNameOrPassword && b != 0x04 {
			t.Errorf("%s: wire code %#x", c.name, b)
		}
		r.ExpectClosed()
	}
	// MQTT 5 carries the reason itself.
	_, ack = brokertest.Connect(t, n.Addr, packet.V5, "c3", login("bob", "nope"))
	if ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Errorf("MQTT 5 wrong password: %v", ack.ReasonCode)
	}

	// A user added to the file can log in after a reload.
	if err := passwd.SetPassword(pwPath, "carol", []byte("singer"), false, cheap); err != nil {
		t.Fatal(err)
	}
	if err := pw.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ack := brokertest.Connect(t, n.Addr, packet.V311, "c4", login("carol", "singer")); ack.ReasonCode != packet.Success {
		t.Errorf("after reload: CONNACK %v", ack.ReasonCode)
	}
}

const testACL = `# everyone reads public
topic read public/#

user alice
topic write public/alice
topic read private/alice/#

user bob
topic write private/alice/inbox

# each client owns its state topic
pattern write clients/%c/state
pattern read clients/%c/#
`

func TestACLThroughBroker(t *testing.T) {
	pwPath, aclPath := files(t, testACL)
	a := acl.New(aclPath, nil)
	n := start(t, passwd.New(pwPath, nil), a)

	alice, ack := brokertest.Connect(t, n.Addr, packet.V311, "alice-1", login("alice", "wonderland"))
	if ack.ReasonCode != packet.Success {
		t.Fatalf("alice: %v", ack.ReasonCode)
	}
	// One refused filter does not refuse the others.
	suback := alice.Subscribe(1, 1, "public/#", "private/alice/#", "secret/#", "clients/alice-1/#", "clients/bob-1/#")
	want := []packet.ReasonCode{packet.GrantedQoS1, packet.GrantedQoS1, 0x80, packet.GrantedQoS1, 0x80}
	if !equalCodes(suback.ReasonCodes, want) {
		t.Errorf("SUBACK %v, want %v", suback.ReasonCodes, want)
	}

	bob, ack := brokertest.Connect(t, n.Addr, packet.V311, "bob-1", login("bob", "builder"))
	if ack.ReasonCode != packet.Success {
		t.Fatalf("bob: %v", ack.ReasonCode)
	}
	// Denied publishes are acknowledged (3.1.1 cannot refuse) but not delivered.
	bob.Publish(1, 1, false, "public/alice", []byte("forged"))
	bob.Publish(2, 1, false, "clients/alice-1/state", []byte("forged"))
	// Allowed ones are delivered.
	bob.Publish(3, 1, false, "private/alice/inbox", []byte("hello alice"))
	alice.Publish(1, 0, false, "public/alice", []byte("news"))
	alice.Publish(2, 0, false, "clients/alice-1/state", []byte("online"))

	got := map[string]string{}
	for len(got) < 3 {
		p := brokertest.ReadAs[*packet.Publish](t, alice)
		got[p.Topic] = string(p.Payload)
		if p.QoS == 1 {
			alice.Send(&packet.Puback{PacketID: p.PacketID})
		}
	}
	wantGot := map[string]string{"private/alice/inbox": "hello alice", "public/alice": "news", "clients/alice-1/state": "online"}
	for k, v := range wantGot {
		if got[k] != v {
			t.Errorf("delivered %v, want %v", got, wantGot)
			break
		}
	}
	alice.Ping()
	alice.NoPacket(200 * time.Millisecond)

	// MQTT 5: a refused publish gets PUBACK 0x87 and a refused filter SUBACK 0x87.
	bob5, _ := brokertest.Connect(t, n.Addr, packet.V5, "bob-5", login("bob", "builder"))
	bob5.Send(&packet.Publish{PacketID: 7, QoS: 1, Topic: "public/alice", Payload: []byte("x")})
	if pa := brokertest.ReadAs[*packet.Puback](t, bob5); pa.ReasonCode != packet.NotAuthorized {
		t.Errorf("MQTT 5 refused publish: PUBACK %v", pa.ReasonCode)
	}
	if sa := bob5.Subscribe(8, 0, "public/x", "private/alice/#"); !equalCodes(sa.ReasonCodes, []packet.ReasonCode{packet.GrantedQoS0, packet.NotAuthorized}) {
		t.Errorf("MQTT 5 SUBACK %v", sa.ReasonCodes)
	}

	// A changed file takes effect after a reload.
	if err := os.WriteFile(aclPath, []byte(testACL+"user alice\ntopic read secret/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if sa := alice.Subscribe(2, 0, "secret/#"); !equalCodes(sa.ReasonCodes, []packet.ReasonCode{packet.GrantedQoS0}) {
		t.Errorf("after reload: SUBACK %v", sa.ReasonCodes)
	}
}

// TestReloadLoopThroughBroker lets the plugins' own reload loops pick up new files.
func TestReloadLoopThroughBroker(t *testing.T) {
	pwPath, aclPath := files(t, "")
	pw, a := passwd.New(pwPath, nil), acl.New(aclPath, nil)
	pw.Start(t.Context(), 20*time.Millisecond)
	a.Start(t.Context(), 20*time.Millisecond)
	n := start(t, pw, a)

	c, ack := brokertest.Connect(t, n.Addr, packet.V311, "d1", login("dave", "x"))
	if ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("unknown dave: %v", ack.ReasonCode)
	}
	c.ExpectClosed()
	if err := passwd.SetPassword(pwPath, "dave", []byte("x"), false, cheap); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(aclPath, []byte("user dave\ntopic read d/#\n"), 0o600)
	var conn *brokertest.Raw
	brokertest.Eventually(t, 5*time.Second, "dave admitted", func() bool {
		r, ack := brokertest.Connect(t, n.Addr, packet.V311, "d1", login("dave", "x"))
		conn = r
		return ack.ReasonCode == packet.Success
	})
	brokertest.Eventually(t, 5*time.Second, "dave may subscribe", func() bool {
		return conn.Subscribe(1, 0, "d/#").ReasonCodes[0] == packet.GrantedQoS0
	})
}

func equalCodes(a, b []packet.ReasonCode) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
