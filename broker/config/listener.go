package config

import (
	"reflect"
	"time"
)

// ListenerOptions are the settings every listener resolves through the cascade
//
//	listener.<option>  →  listener.<type>.<option>  →  listener.<type>.<name>.<option>
//
// where the most specific one set wins. The `types` tag limits an option to some listener
// types; setting it for another type is an error, while a global listener.<option> simply
// skips the types it does not apply to. Other tags are as on Config.
type ListenerOptions struct {
	MaxConnections               int              `key:"max_connections" default:"infinity" alias:"infinity=-1" min:"-1" doc:"concurrent connections accepted; infinity = no limit"`
	ConnectTimeout               time.Duration    `key:"connect_timeout" default:"5s" min:"1ms" doc:"time a new connection has to send CONNECT (VerneMQ's mqtt_connect_timeout)" types:"tcp,ssl,ws,wss,unix"`
	Mountpoint                   string           `key:"mountpoint" default:"" doc:"topic prefix isolating this listener's clients; empty = none" types:"tcp,ssl,ws,wss,unix"`
	AllowedProtocolVersions      ProtocolVersions `key:"allowed_protocol_versions" default:"3,4,5" doc:"MQTT protocol levels accepted: 3 (3.1), 4 (3.1.1), 5 (5.0), 131/132 (bridges)" types:"tcp,ssl,ws,wss,unix"`
	AllowAnonymousOverride       bool             `key:"allow_anonymous_override" default:"off" doc:"accept clients without authentication on this listener whatever allow_anonymous says" types:"tcp,ssl,ws,wss,unix"`
	ProxyProtocol                bool             `key:"proxy_protocol" default:"off" doc:"expect a PROXY protocol v1/v2 header from a load balancer before anything else (before TLS on ssl/wss)" types:"tcp,ssl,ws,wss"`
	ProxyProtocolUseCNAsUsername bool             `key:"proxy_protocol_use_cn_as_username" default:"on" doc:"with proxy_protocol, use the client certificate CN passed by the proxy as username" types:"tcp,ws"`
	CAFile                       string           `key:"cafile" default:"" doc:"PEM file of CAs trusted for client certificates (vmqs: for the certificates of peer nodes)" types:"ssl,wss,vmqs"`
	CertFile                     string           `key:"certfile" default:"" doc:"PEM server certificate (required for TLS listeners; vmqs: the node's certificate, for server and client authentication)" types:"ssl,wss,vmqs"`
	KeyFile                      string           `key:"keyfile" default:"" doc:"PEM private key of certfile (required for TLS listeners)" types:"ssl,wss,vmqs"`
	KeyPasswd                    string           `key:"keypasswd" default:"" doc:"password of an encrypted keyfile (legacy PEM encryption, Proc-Type: 4,ENCRYPTED)" types:"ssl,wss,vmqs"`
	CRLFile                      string           `key:"crlfile" default:"" doc:"PEM certificate revocation list checked against client certificates" types:"ssl,wss"`
	Ciphers                      string           `key:"ciphers" default:"" doc:"colon-separated cipher suites allowed (TLS 1.2); empty = Go's secure defaults" types:"ssl,wss,vmqs"`
	Depth                        int              `key:"depth" default:"1" min:"0" doc:"intermediate certificates allowed in a client certificate chain" types:"ssl,wss"`
	RequireCertificate           bool             `key:"require_certificate" default:"off" doc:"reject clients that present no valid certificate" types:"ssl,wss"`
	TLSVersion                   TLSVersion       `key:"tls_version" default:"tlsv1.2" doc:"lowest TLS version accepted: tlsv1.2 or tlsv1.3" types:"ssl,wss,vmqs"`
	UseIdentityAsUsername        bool             `key:"use_identity_as_username" default:"off" doc:"use the client certificate CN as username; other authentication is skipped" types:"ssl,wss"`
	WebSocketPath                string           `key:"path" default:"/mqtt" doc:"HTTP path MQTT over WebSocket is served on; other paths get 404" types:"ws,wss"`
	ProxyXFFSupport              bool             `key:"proxy_xff_support" default:"off" doc:"take the client address from X-Forwarded-For sent by a trusted HTTP proxy" types:"ws,wss"`
	ProxyXFFTrusted              string           `key:"proxy_xff_trusted_intermediate" default:"" doc:"comma-separated IPs or CIDRs of proxies whose X-Forwarded-For is believed; empty = the direct peer only" types:"ws,wss"`
}

// Listener is one resolved listener: listener.<Type>.<Name> = <Address>, with options.
type Listener struct {
	Type    ListenerType
	Name    string
	Address string // host:port as written; an empty host means every interface
	ListenerOptions
}

// Key is the listener's key in the file, listener.<type>.<name>.
func (l Listener) Key() string { return "listener." + string(l.Type) + "." + l.Name }

// DefaultListenerOptions are the options a listener has when nothing in the cascade sets them.
func DefaultListenerOptions() ListenerOptions {
	var o ListenerOptions
	v := reflect.ValueOf(&o).Elem()
	for _, f := range schema().options {
		d, _ := f.parse(f.Def) // checked when the schema is built
		v.FieldByIndex(f.index[len(f.index)-1:]).Set(d)
	}
	return o
}

// NewListener is a listener with default options, for code (and tests) that build a Config in
// Go rather than from a file.
func NewListener(t ListenerType, name, address string) Listener {
	return Listener{Type: t, Name: name, Address: address, ListenerOptions: DefaultListenerOptions()}
}
