package listener

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// readProxyHeader reads a PROXY protocol v1 or v2 header, which must be the first bytes on the
// connection and complete before the deadline. A connection without a valid header is refused:
// a listener with proxy_protocol = on trusts only its load balancer, so anything else talking to
// it is either misconfigured or forging addresses.
//
// The returned Conn carries the source address of the header (LOCAL commands, the load
// balancer's health checks, keep the socket's address) and, with useCN, the client
// certificate's CN from the PP2_SUBTYPE_SSL_CN TLV a TLS-terminating proxy sends.
func readProxyHeader(nc net.Conn, deadline time.Time, useCN bool) (*Conn, error) {
	nc.SetReadDeadline(deadline)
	br := bufio.NewReaderSize(nc, 512)
	h, err := proxyproto.Read(br)
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		if errors.Is(err, proxyproto.ErrNoProxyProtocol) {
			return nil, errors.New("PROXY protocol: no header")
		}
		return nil, fmt.Errorf("PROXY protocol: %w", err)
	}
	c := &Conn{Conn: nc, br: br}
	if h.Command.IsProxy() && h.SourceAddr != nil {
		c.remote = h.SourceAddr
	}
	if useCN {
		tlvs, err := h.TLVs()
		if err != nil {
			return nil, fmt.Errorf("PROXY protocol: TLVs: %w", err)
		}
		if ssl, ok := tlvparse.FindSSL(tlvs); ok {
			if cn, ok := ssl.ClientCN(); ok && ssl.Verified() {
				c.username = cn
			}
		}
	}
	return c, nil
}
