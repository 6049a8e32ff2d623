package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// link is one established connection to a peer: a reader goroutine dispatching frames and a
// writer goroutine draining the peer's outQueue. Either closes the link on error; the peer then
// fails its waiting requests and (on the dialling side) reconnects.
type link struct {
	p       *peer
	conn    net.Conn  // possibly *tls.Conn
	in      io.Reader // conn, or what the handshake read ahead followed by conn
	raw     net.Conn  // the TCP connection under conn, closed directly so Close never waits on a TLS alert
	version int       // negotiated protocol version

	done     chan struct{}
	once     sync.Once
	lastRecv atomic.Int64 // unix nanos of the last frame read
}

func newLink(p *peer, conn, raw net.Conn, version int, in io.Reader) *link {
	l := &link{p: p, conn: conn, in: in, raw: raw, version: version, done: make(chan struct{})}
	l.lastRecv.Store(time.Now().UnixNano())
	return l
}

// close tears the link down once; err says why, for the log.
func (l *link) close(err error) {
	l.once.Do(func() {
		close(l.done)
		_ = l.raw.Close()
		l.p.linkDown(l, err)
	})
}

// run starts the reader and writer; they exit when the link closes.
func (l *link) run() {
	n := l.p.n
	n.wg.Add(2)
	go func() { defer n.wg.Done(); l.readLoop() }()
	go func() { defer n.wg.Done(); l.writeLoop() }()
}

// writeLoop writes whatever is queued in one Write per wake-up: frames that pile up while a
// write is in progress go out together in the next one. It also pings an idle link and closes
// a link that has been silent for IdleTimeout.
func (l *link) writeLoop() {
	p, o := l.p, &l.p.n.opts
	ticker := time.NewTicker(o.PingInterval)
	defer ticker.Stop()
	var spare []byte
	lastWrite := time.Now()
	for {
		batch, frames := p.q.take(spare)
		if len(batch) > 0 {
			if err := l.conn.SetWriteDeadline(time.Now().Add(o.WriteTimeout)); err != nil {
				l.close(fmt.Errorf("set write deadline: %w", err))
				return
			}
			if _, err := l.conn.Write(batch); err != nil {
				// The batch is lost with the link; what was queued after it stays for the next.
				l.close(fmt.Errorf("write: %w", err))
				return
			}
			p.stats.messagesOut.Add(uint64(frames))
			p.stats.bytesOut.Add(uint64(len(batch)))
			lastWrite = time.Now()
		}
		// Keep one spare buffer, but not a huge one left by a burst.
		spare = batch[:0]
		if cap(spare) > 1<<20 {
			spare = nil
		}
		select {
		case <-p.q.wake:
		case <-l.done:
			return
		case now := <-ticker.C:
			if since := now.Sub(time.Unix(0, l.lastRecv.Load())); since > o.IdleTimeout {
				l.close(fmt.Errorf("nothing received for %v", since.Round(time.Millisecond)))
				return
			}
			if now.Sub(lastWrite) >= o.PingInterval {
				p.q.push(&frame{Type: framePing}, true)
			}
		}
	}
}

// readLoop reads and dispatches frames until the connection fails.
func (l *link) readLoop() {
	n := l.p.n
	br := bufio.NewReaderSize(l.in, 64<<10)
	var scratch []byte
	for {
		body, err := readFrame(br, n.opts.MaxFrameSize, &scratch)
		if err != nil {
			l.close(err)
			return
		}
		l.lastRecv.Store(time.Now().UnixNano())
		f, err := decodeFrame(body)
		if err != nil {
			l.close(err)
			return
		}
		l.p.stats.messagesIn.Add(1)
		l.p.stats.bytesIn.Add(uint64(len(body) + frameLenSize))
		l.dispatch(&f)
	}
}

// readFrame reads one length-prefixed frame body from br. The body aliases br's buffer (or
// *scratch, for frames larger than it) and is valid until the next call. A frame larger than
// max is refused before anything is allocated for it.
func readFrame(br *bufio.Reader, max int, scratch *[]byte) ([]byte, error) {
	hdr, err := br.Peek(frameLenSize)
	if err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint32(hdr))
	if _, err := br.Discard(frameLenSize); err != nil {
		return nil, err
	}
	if size > max {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds the %d-byte maximum", errMalformed, size, max)
	}
	if size <= br.Size() {
		body, err := br.Peek(size)
		if err != nil {
			return nil, eofIsUnexpected(err)
		}
		_, _ = br.Discard(size)
		return body, nil
	}
	if cap(*scratch) < size {
		*scratch = make([]byte, size)
	}
	body := (*scratch)[:size]
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, eofIsUnexpected(err)
	}
	return body, nil
}

func eofIsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// dispatch handles one frame on the reader goroutine. Only HandleMessage runs inline, as the
// Handler contract says; requests get their own goroutine so a slow handler never stalls the
// link.
func (l *link) dispatch(f *frame) {
	p, n := l.p, l.p.n
	switch f.Type {
	case frameMessage:
		if h := n.handler(f.Chan); h != nil {
			h.HandleMessage(p.name, f.Payload)
		} else {
			p.stats.unhandled.Add(1)
		}
	case frameRequest:
		req := append([]byte(nil), f.Payload...)
		// Not counted in n.wg: Close cancels the handler's context but does not wait for a
		// handler that ignores it.
		go n.serveRequest(p, f.Chan, f.ID, f.TimeoutMS, req)
	case frameResponse:
		p.resolve(f.ID, append([]byte(nil), f.Payload...), nil)
	case frameError:
		var err error = &RemoteError{Node: p.name, Msg: f.Err}
		if f.Err == noHandlerMsg {
			err = fmt.Errorf("%w %d on %s", ErrNoHandler, f.Chan, p.name)
		}
		p.resolve(f.ID, nil, err)
	case framePing:
		p.q.push(&frame{Type: framePong}, true)
	case framePong:
		// lastRecv is all a pong is for.
	default:
		// A newer peer negotiated down to our version must not send types we lack; count it
		// rather than break the link over it.
		p.stats.unhandled.Add(1)
	}
}

// serveRequest runs a handler for a peer's request and queues the answer.
func (n *Node) serveRequest(p *peer, ch Channel, id, timeoutMS uint64, req []byte) {
	timeout := n.opts.RequestTimeout
	if timeoutMS > 0 && time.Duration(timeoutMS)*time.Millisecond < timeout {
		timeout = time.Duration(timeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	resp := frame{Type: frameResponse, ID: id}
	if h := n.handler(ch); h == nil {
		resp.Type, resp.Err = frameError, noHandlerMsg
	} else if out, err := h.HandleRequest(ctx, p.name, req); err != nil {
		resp.Type, resp.Err = frameError, err.Error()
		if resp.Err == "" {
			resp.Err = "error"
		}
	} else {
		resp.Payload = out
	}
	// Pushed even if the peer is not (yet) a member here: the accepting side may see a request
	// before serf's join event, and a dead peer's queue is emptied anyway.
	p.q.push(&resp, true)
}
