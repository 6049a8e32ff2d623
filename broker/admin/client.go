package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to a node's admin API; `nautilus admin` is built on it.
type Client struct {
	URL  string // base URL, e.g. http://127.0.0.1:8888
	Key  string
	HTTP *http.Client // nil = http.DefaultClient; bound each call with its context
}

// ErrUnauthorized is returned when the node refuses the key (HTTP 401).
var ErrUnauthorized = errors.New("the node refused the API key")

// APIError is an error response of the API.
type APIError struct {
	Status  int
	Message string
	// Body is the raw answer, for endpoints that report details along with the error.
	Body []byte
}

func (e *APIError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// do sends a request and decodes a JSON answer into out (or copies it when out is an
// *strings.Builder).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("admin API address %q: %w", c.URL, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the node's admin API at %s (is the node running, and is this its listener.http address?): %w", c.URL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API at %s: reading the answer: %w", c.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
			if e.Error == "" {
				e.Error = resp.Status
			}
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%w at %s: %s", ErrUnauthorized, c.URL, e.Error)
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error, Body: data}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *strings.Builder:
		o.Write(data)
		return nil
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("admin API at %s: unexpected answer to %s %s: %w", c.URL, method, path, err)
		}
		return nil
	}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Cluster is GET /api/v1/cluster.
func (c *Client) Cluster(ctx context.Context) (Cluster, error) {
	var out Cluster
	return out, c.do(ctx, http.MethodGet, "/api/v1/cluster", nil, &out)
}

// Join makes the node join the cluster of the member at the gossip address addr.
func (c *Client) Join(ctx context.Context, addr string) (Cluster, error) {
	var out Cluster
	return out, c.do(ctx, http.MethodPost, "/api/v1/cluster/join", JoinRequest{Address: addr}, &out)
}

// Leave makes the node leave (node empty or its own name) or removes a failed node.
func (c *Client) Leave(ctx context.Context, node string, killSessions bool) (LeaveResult, error) {
	var out LeaveResult
	return out, c.do(ctx, http.MethodPost, "/api/v1/cluster/leave", LeaveRequest{Node: node, KillSessions: killSessions}, &out)
}

// Status is GET /api/v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	return out, c.do(ctx, http.MethodGet, "/api/v1/status", nil, &out)
}

// Session is GET /api/v1/sessions.
func (c *Client) Session(ctx context.Context, mountpoint, clientID string) (SessionInfo, error) {
	var out SessionInfo
	q := url.Values{"client_id": {clientID}}
	if mountpoint != "" {
		q.Set("mountpoint", mountpoint)
	}
	return out, c.do(ctx, http.MethodGet, "/api/v1/sessions?"+q.Encode(), nil, &out)
}

// Metrics is GET /metrics: the Prometheus text.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var sb strings.Builder
	err := c.do(ctx, http.MethodGet, "/metrics", nil, &sb)
	return sb.String(), err
}

// ReloadListeners makes the node read the certificate files of its TLS listeners again: the
// one named, or every one when name is empty. When a listener fails to reload, the error comes
// with the outcome of each listener.
func (c *Client) ReloadListeners(ctx context.Context, name string) (ReloadResult, error) {
	var out ReloadResult
	err := c.do(ctx, http.MethodPost, "/api/v1/listeners/reload", ReloadRequest{Listener: name}, &out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusInternalServerError {
		// The answer still says which listeners reloaded; a body that is not one leaves out empty.
		_ = json.Unmarshal(ae.Body, &out)
	}
	return out, err
}
