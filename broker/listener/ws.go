package listener

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocketConfig configures MQTT over WebSocket (listener.ws and listener.wss).
type WebSocketConfig struct {
	// Path is the HTTP path served; other paths get 404. Default /mqtt.
	Path string
	// MaxMessageSize bounds one WebSocket message (and so one frame): a frame announcing more
	// is refused from its header (close 1009) and the connection ends. 0 = 268435460, the
	// largest MQTT packet.
	MaxMessageSize int64
	// XFF takes the client's address from X-Forwarded-For when the direct peer is trusted.
	XFF bool
	// Trusted lists the proxies whose X-Forwarded-For is believed, and which are skipped when
	// walking the header from the right; empty = the direct peer only (one proxy).
	Trusted []netip.Prefix
}

// Subprotocols are the WebSocket subprotocols MQTT clients ask for: mqtt (3.1.1 and 5) and
// mqttv3.1 (3.1).
var Subprotocols = []string{"mqtt", "mqttv3.1"}

type connKey struct{}

// wsServer serves the HTTP upgrade on connections the accept loop has already passed through
// the PROXY and TLS stages. It gets them over a channel listener, so a slow client never holds
// up the accept loop.
type wsServer struct {
	conf    WebSocketConfig
	ln      *chanListener
	srv     *http.Server
	handler Handler
	ctx     context.Context
	log     *slog.Logger
	up      websocket.Upgrader
}

func newWSServer(ctx context.Context, conf WebSocketConfig, timeout time.Duration, h Handler, log *slog.Logger, addr net.Addr) *wsServer {
	if conf.Path == "" {
		conf.Path = "/mqtt"
	}
	if conf.MaxMessageSize <= 0 {
		conf.MaxMessageSize = 268435460
	}
	s := &wsServer{conf: conf, handler: h, ctx: ctx, log: log, ln: newChanListener(addr)}
	s.up = websocket.Upgrader{
		HandshakeTimeout: timeout,
		Subprotocols:     Subprotocols,
		// MQTT clients in browsers connect from pages of any origin; authentication is MQTT's.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			w.Header().Set("Connection", "close")
			http.Error(w, reason.Error(), status)
		},
	}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: timeout,
		ReadTimeout:       timeout,
		IdleTimeout:       timeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	go s.srv.Serve(s.ln)
	return s
}

// close stops accepting; upgraded connections go on, as on the other kinds of listener.
func (s *wsServer) close() { s.ln.Close() }

func (s *wsServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		w.Header().Set("Connection", "close")
		http.Error(w, msg, status)
	}
	if r.URL.Path != s.conf.Path {
		fail(http.StatusNotFound, "no MQTT endpoint here; it is at "+s.conf.Path)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		fail(http.StatusBadRequest, "expected a WebSocket upgrade (MQTT over WebSocket)")
		return
	}
	if offered := websocket.Subprotocols(r); len(offered) > 0 && !hasMQTTSubprotocol(offered) {
		fail(http.StatusBadRequest, "unsupported WebSocket subprotocol: expected mqtt or mqttv3.1")
		return
	}
	inner, _ := r.Context().Value(connKey{}).(net.Conn)
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("WebSocket upgrade failed", "error", err)
		return
	}
	remote, username := identity(inner)
	if s.conf.XFF {
		remote = forwardedFor(remote, r.Header.Values("X-Forwarded-For"), s.conf.Trusted)
	}
	ws.SetReadLimit(s.conf.MaxMessageSize)
	s.handler(s.ctx, newWSConn(ws, remote, username))
}

func hasMQTTSubprotocol(offered []string) bool {
	for _, o := range offered {
		for _, p := range Subprotocols {
			if strings.EqualFold(o, p) {
				return true
			}
		}
	}
	return false
}

// forwardedFor picks the client address from X-Forwarded-For. The header is believed only
// when the direct peer is a trusted proxy; it is then read from the right, skipping trusted
// proxies, and the first other address is the client. With no trusted list, the direct peer
// is the one trusted proxy and the rightmost address is the client.
func forwardedFor(peer net.Addr, headers []string, trusted []netip.Prefix) net.Addr {
	var hops []string
	for _, h := range headers {
		for part := range strings.SplitSeq(h, ",") {
			if p := strings.TrimSpace(part); p != "" {
				hops = append(hops, p)
			}
		}
	}
	if len(hops) == 0 {
		return peer
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	if len(trusted) > 0 {
		pa, err := netip.ParseAddrPort(peer.String())
		if err != nil || !isTrusted(pa.Addr()) {
			return peer
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(hops[i])
		if err != nil {
			return peer // a malformed chain is not believed
		}
		if len(trusted) == 0 || !isTrusted(a) || i == 0 {
			return &net.TCPAddr{IP: a.AsSlice(), Port: 0}
		}
	}
	return peer
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a port or brackets.
func parseHop(s string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap(), err
}

// wsConn adapts a WebSocket to the net.Conn a session reads MQTT from: every binary message
// is part of the byte stream (an MQTT packet may span messages, and a message may hold
// several packets), every Write is one binary message.
type wsConn struct {
	ws       *websocket.Conn
	r        io.Reader
	remote   net.Addr
	username string
	wmu      sync.Mutex
	// closeSent is set once a close frame went out: RFC 6455 §5.5.1 allows one.
	// It is not guarded by wmu: Close must not wait for a Write stuck on a client that reads
	// nothing, since closing is what unsticks it.
	closeSent atomic.Bool
}

func newWSConn(ws *websocket.Conn, remote net.Addr, username string) *wsConn {
	return &wsConn{ws: ws, remote: remote, username: username}
}

var errTextFrame = errors.New("websocket: text frame; MQTT needs binary frames")

func (c *wsConn) Read(b []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				// [MQTT-6.0.0-1] any other data frame closes the connection.
				c.ws.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "binary frames only"),
					time.Now().Add(time.Second))
				return 0, errTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(b)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close sends a close frame (best effort, briefly) unless CloseWrite did, and closes the
// socket.
func (c *wsConn) Close() error {
	c.sendClose(100 * time.Millisecond)
	return c.ws.Close()
}

// CloseWrite sends the close frame and nothing after it: the WebSocket way to say that no more
// data comes while still reading what the client sends (RFC 6455 §5.5.1).
func (c *wsConn) CloseWrite() error {
	return c.sendClose(time.Second)
}

func (c *wsConn) sendClose(timeout time.Duration) error {
	if c.closeSent.Swap(true) {
		return nil
	}
	return c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(timeout))
}

// NetConn is the socket under the WebSocket: a session that hangs up reads and discards there.
func (c *wsConn) NetConn() net.Conn { return c.ws.NetConn() }

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

// IdentityUsername: see Conn.IdentityUsername.
func (c *wsConn) IdentityUsername() string { return c.username }

// Subprotocol is the WebSocket subprotocol agreed on (mqtt, mqttv3.1 or empty).
func (c *wsConn) Subprotocol() string { return c.ws.Subprotocol() }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.ws.SetReadDeadline(t)
	return c.ws.SetWriteDeadline(t)
}
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

// chanListener is a net.Listener fed by the accept loop.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// deliver hands c to the HTTP server, or closes it when the listener stopped.
func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
