package cluster

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nautilus-mq/nautilus/broker/msgpackdec"
)

// The handshake opens every link, before any frame:
//
//	dialler  → acceptor: magic "NTLS" | frame-length-prefixed msgpack hello
//	acceptor → dialler : frame-length-prefixed msgpack hello (Version or Refused set)
//
// Each side names itself and the protocol versions it speaks; the acceptor picks the highest
// version both speak, or refuses with a reason both sides log. The magic makes a stray client
// (an MQTT client pointed at the cluster port) fail at once with a clear error.
var linkMagic = []byte("NTLS")

// hello is the handshake message. Fields are only ever added.
type hello struct {
	Node    string `msgpack:"node"`
	Min     int    `msgpack:"min"`
	Max     int    `msgpack:"max"`
	Version int    `msgpack:"version,omitempty"` // acceptor: the version chosen
	Refused string `msgpack:"refused,omitempty"` // acceptor: why the link is refused
}

// maxHelloSize bounds a handshake message; names are short.
const maxHelloSize = 4 << 10

func writeHello(conn net.Conn, prefix []byte, h *hello) error {
	body, err := msgpack.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode hello: %w", err)
	}
	buf := append(prefix, 0, 0, 0, 0)
	buf[len(prefix)] = byte(len(body) >> 24)
	buf[len(prefix)+1] = byte(len(body) >> 16)
	buf[len(prefix)+2] = byte(len(body) >> 8)
	buf[len(prefix)+3] = byte(len(body))
	if _, err := conn.Write(append(buf, body...)); err != nil {
		return fmt.Errorf("write hello: %w", err)
	}
	return nil
}

func readHello(br *bufio.Reader) (*hello, error) {
	var scratch []byte
	body, err := readFrame(br, maxHelloSize, &scratch)
	if err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	var h hello
	if err := msgpackdec.Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("%w: hello: %v", errMalformed, err)
	}
	return &h, nil
}

// negotiate picks the highest version both ranges contain, or 0.
func negotiate(aMin, aMax, bMin, bMax int) int {
	v := min(aMax, bMax)
	if v < max(aMin, bMin) {
		return 0
	}
	return v
}

// dialPeer connects to p at addr, runs the handshake and attaches the link.
func (n *Node) dialPeer(p *peer, addr string) error {
	if addr == "" {
		return errors.New("peer advertises no link address")
	}
	d := net.Dialer{Timeout: n.opts.DialTimeout, KeepAlive: 15 * time.Second}
	raw, err := d.DialContext(n.ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	l, err := n.clientHandshake(p, raw, addr)
	if err != nil {
		_ = raw.Close()
		return err
	}
	p.attach(l)
	return nil
}

func (n *Node) clientHandshake(p *peer, raw net.Conn, addr string) (*link, error) {
	if err := raw.SetDeadline(time.Now().Add(n.opts.HandshakeTimeout)); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	conn, err := n.dialTLS(raw, p.name, addr)
	if err != nil {
		n.handshakeFailures.Add(1)
		return nil, err
	}
	if err := writeHello(conn, bytes.Clone(linkMagic), &hello{Node: n.name, Min: n.protoMin, Max: n.protoMax}); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 512)
	h, err := readHello(br)
	if err != nil {
		n.handshakeFailures.Add(1)
		return nil, err
	}
	switch {
	case h.Refused != "":
		n.handshakeFailures.Add(1)
		n.log.Error("cluster: peer refused the link", "peer", p.name, "addr", addr, "reason", h.Refused)
		return nil, fmt.Errorf("%w: %s refused: %s", ErrIncompatible, p.name, h.Refused)
	case h.Node != p.name:
		n.handshakeFailures.Add(1)
		return nil, fmt.Errorf("%s answers as %q, not %q (stale address?)", addr, h.Node, p.name)
	case h.Version < n.protoMin || h.Version > n.protoMax:
		n.handshakeFailures.Add(1)
		return nil, fmt.Errorf("%w: %s chose version %d, this node speaks %d–%d", ErrIncompatible, p.name, h.Version, n.protoMin, n.protoMax)
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear deadline: %w", err)
	}
	// The acceptor starts writing queued frames as soon as its hello is out, so some may already
	// sit in br; the link's reader must see them first.
	return newLink(p, conn, raw, h.Version, leftover(br, conn)), nil
}

// serveConn runs the acceptor's side of the handshake on a new connection and attaches the
// link, or closes the connection and logs why.
func (n *Node) serveConn(raw net.Conn) {
	l, err := n.serverHandshake(raw)
	if err != nil {
		_ = raw.Close()
		if n.isClosed() {
			return
		}
		n.refused.Log("link handshake", "remote", raw.RemoteAddr().String(), "err", err)
		return
	}
	l.p.attach(l)
}

func (n *Node) serverHandshake(raw net.Conn) (*link, error) {
	if err := raw.SetDeadline(time.Now().Add(n.opts.HandshakeTimeout)); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	conn, err := n.acceptTLS(raw)
	if err != nil {
		n.handshakeFailures.Add(1)
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 512)
	magic, err := br.Peek(len(linkMagic))
	if err != nil {
		n.handshakeFailures.Add(1)
		return nil, fmt.Errorf("read magic: %w", err)
	}
	if !bytes.Equal(magic, linkMagic) {
		n.handshakeFailures.Add(1)
		return nil, fmt.Errorf("%w: not a nautilus peer link (first bytes %q)", errMalformed, magic)
	}
	_, _ = br.Discard(len(linkMagic))
	h, err := readHello(br)
	if err != nil {
		n.handshakeFailures.Add(1)
		return nil, err
	}
	reply := hello{Node: n.name, Min: n.protoMin, Max: n.protoMax}
	var refuse error
	if err := n.checkPeerName(conn, h.Node); err != nil {
		n.handshakeFailures.Add(1)
		return nil, err
	}
	switch v := negotiate(n.protoMin, n.protoMax, h.Min, h.Max); {
	case h.Node == "" || h.Node == n.name:
		reply.Refused = fmt.Sprintf("bad node name %q", h.Node)
	case h.Node > n.name:
		// The rule that the smaller name dials keeps one link per pair; a larger dialler means
		// a misconfigured or foreign build.
		reply.Refused = fmt.Sprintf("%q must not dial %q: the node with the smaller name dials", h.Node, n.name)
	case v == 0:
		reply.Refused = fmt.Sprintf("no common protocol version: %s speaks %d–%d, %s speaks %d–%d",
			h.Node, h.Min, h.Max, n.name, n.protoMin, n.protoMax)
		refuse = ErrIncompatible
	default:
		reply.Version = v
	}
	if reply.Refused != "" {
		n.handshakeFailures.Add(1)
		_ = writeHello(conn, nil, &reply)
		if refuse != nil {
			n.log.Error("cluster: refusing peer link: incompatible protocol versions", "peer", h.Node, "reason", reply.Refused)
			return nil, fmt.Errorf("%w: %s", refuse, reply.Refused)
		}
		return nil, errors.New(reply.Refused)
	}
	if br.Buffered() > 0 {
		return nil, fmt.Errorf("%w: %s sent data before the handshake ended", errMalformed, h.Node)
	}
	if err := writeHello(conn, nil, &reply); err != nil {
		return nil, err
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear deadline: %w", err)
	}
	return newLink(n.peerFor(h.Node), conn, raw, reply.Version, conn), nil
}

// leftover is a reader that yields what br has buffered and then reads conn.
func leftover(br *bufio.Reader, conn net.Conn) io.Reader {
	if br.Buffered() == 0 {
		return conn
	}
	b, _ := br.Peek(br.Buffered())
	return io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn)
}

// dialTLS secures a dialled link: with the operator's TLS configuration, or with the cluster
// secret's certificates, checking that the acceptor's names peer. Without either the link is
// plain TCP (only in tests that build Options by hand; withDefaults refuses it otherwise).
func (n *Node) dialTLS(raw net.Conn, peer, addr string) (net.Conn, error) {
	var cfg *tls.Config
	switch {
	case n.opts.TLS != nil:
		cfg = n.opts.TLS.Clone()
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
	case n.secret != nil:
		cfg = n.secret.Clone()
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := n.keys.verifyMember(cs, peer)
			return err
		}
	default:
		return raw, nil
	}
	tc := tls.Client(raw, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// acceptTLS secures an accepted link; the dialler's name is checked after its hello, by
// checkPeerName.
func (n *Node) acceptTLS(raw net.Conn) (net.Conn, error) {
	var cfg *tls.Config
	switch {
	case n.opts.TLS != nil:
		cfg = n.opts.TLS.Clone()
		if cfg.ClientCAs == nil {
			cfg.ClientCAs = cfg.RootCAs
		}
		if cfg.ClientAuth == tls.NoClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	case n.secretServer != nil:
		cfg = n.secretServer
	default:
		return raw, nil
	}
	tc := tls.Server(raw, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// checkPeerName refuses a dialler whose hello claims another node than its certificate names,
// on links authenticated by the cluster secret: one member cannot pose as another.
func (n *Node) checkPeerName(conn net.Conn, name string) error {
	tc, ok := conn.(*tls.Conn)
	if !ok || n.keys == nil {
		return nil
	}
	if _, err := n.keys.verifyMember(tc.ConnectionState(), name); err != nil {
		return fmt.Errorf("hello as %q: %w", name, err)
	}
	return nil
}
