package cluster

import (
	"context"
	"errors"
)

// HandlerFuncs adapts two functions to Handler, for small handlers and tests. A nil Message
// drops messages; a nil Request answers every request with an error.
type HandlerFuncs struct {
	Message func(from string, msg []byte)
	Request func(ctx context.Context, from string, req []byte) ([]byte, error)
}

// HandleMessage calls Message.
func (h HandlerFuncs) HandleMessage(from string, msg []byte) {
	if h.Message != nil {
		h.Message(from, msg)
	}
}

// HandleRequest calls Request.
func (h HandlerFuncs) HandleRequest(ctx context.Context, from string, req []byte) ([]byte, error) {
	if h.Request == nil {
		return nil, errors.New("requests not handled on this channel")
	}
	return h.Request(ctx, from, req)
}
