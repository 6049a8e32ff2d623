// Package hooks defines the broker's plugin hooks with VerneMQ's names and chain semantics, so a
// plugin (or a webhook backend written for VerneMQ) sees the same calls in the same order.
//
// Each hook kind is its own one-method interface; a plugin implements the kinds it needs and the
// Chain for each kind is built once, at start, from the enabled plugins in order. Auth hooks run
// "until ok": each plugin answers Next, Allow (optionally with modifiers) or Deny, and the first
// answer that is not Next wins. When every plugin answers Next the request is denied, but a kind
// that no plugin implements is decided by the broker's defaults (see Chain.HasAuthOnPublish).
// Notification hooks go to every plugin and cannot refuse.
//
// Hooks receive a context with a deadline: a plugin that calls out (a webhook, a database) must
// honour it and must never be called with a broker lock held.
package hooks

import (
	"context"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/packet"
)

// Verdict is an auth hook's answer.
type Verdict int

// The answers an auth hook gives.
const (
	Next  Verdict = iota // no opinion: ask the next plugin
	Allow                // allowed; modifiers may apply
	Deny                 // refused; Reason says why on the wire
)

// Client identifies the client a hook is about.
type Client struct {
	Mountpoint string
	ClientID   string
	Username   string
	// Peer is the client's address as the broker sees it (after PROXY protocol unwrapping).
	Peer     string
	Version  packet.Version
	Listener string
}

// Register is what auth_on_register sees of a CONNECT.
type Register struct {
	Client
	Password   []byte
	CleanStart bool
	// Properties are the CONNECT's MQTT 5 properties (user properties, auth method, …).
	Properties *packet.Properties
}

// RegisterResult carries auth_on_register's answer and modifiers; nil modifier fields keep the
// client's own values. UserProperties is accepted and ignored (docs/hooks.md says why).
type RegisterResult struct {
	Verdict Verdict
	Reason  packet.ReasonCode
	// Modifiers as VerneMQ defines them for auth_on_register.
	Mountpoint      *string
	ClientID        *string
	MaxInflight     *int
	MaxMessageSize  *int
	MaxOfflineMsgs  *int
	MaxOnlineMsgs   *int
	CleanStart      *bool
	SessionExpiry   *uint32
	UpgradeQoS      *bool
	AllowMultiple   *bool
	ReasonString    string
	UserProperties  []message.UserProperty
	SharedSubPolicy *string
	// MaxMessageRate is that client's max_message_rate (PUBLISH per second; 0 unlimited) and
	// RetryInterval its retry_interval.
	MaxMessageRate *int
	RetryInterval  *time.Duration
	// QueueType is "fifo" or "lifo" (queue_type) and QueueDeliverMode "fanout" or "balance"
	// (queue_deliver_mode), for that session; another value refuses the client.
	QueueType        *string
	QueueDeliverMode *string
}

// Publish is what auth_on_publish sees of an incoming message.
type Publish struct {
	Client
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties *message.Properties
}

// PublishResult carries auth_on_publish's answer; non-nil modifiers replace the message's
// topic, payload, QoS or retain flag before it is routed.
type PublishResult struct {
	Verdict      Verdict
	Reason       packet.ReasonCode
	Topic        *string
	Payload      []byte
	QoS          *byte
	Retain       *bool
	ReasonString string
}

// Topic is one filter of a SUBSCRIBE.
type Topic struct {
	Filter string
	QoS    byte
}

// Subscribe is what auth_on_subscribe sees of a SUBSCRIBE.
type Subscribe struct {
	Client
	Topics []Topic
}

// SubscribeResult carries auth_on_subscribe's answer; Topics, when not nil, replaces the
// requested list one for one: a QoS may be downgraded, and a QoS of 0x80 (or above 2) rejects
// that single filter while the others stand.
type SubscribeResult struct {
	Verdict Verdict
	Reason  packet.ReasonCode
	Topics  []Topic
}

// AuthRequest is one step of MQTT 5 enhanced authentication (CONNECT or AUTH).
type AuthRequest struct {
	Client
	Method string
	Data   []byte
	// Reauth is true for a re-authentication started by an AUTH packet after CONNACK.
	Reauth bool
}

// AuthResult carries on_auth_m5's answer: Allow finishes the exchange (success), Deny fails it,
// and Continue sends Data back in an AUTH with reason Continue authentication.
type AuthResult struct {
	Verdict  Verdict
	Reason   packet.ReasonCode
	Continue bool
	Data     []byte
}

// Deliver is what on_deliver sees of an outgoing message.
type Deliver struct {
	Client
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// DeliverResult carries on_deliver's modifiers.
type DeliverResult struct {
	Verdict Verdict
	Topic   *string
	Payload []byte
}

// Auth hook kinds, one interface each.
type (
	AuthOnRegister interface {
		AuthOnRegister(ctx context.Context, r *Register) RegisterResult
	}
	AuthOnPublish interface {
		AuthOnPublish(ctx context.Context, p *Publish) PublishResult
	}
	AuthOnSubscribe interface {
		AuthOnSubscribe(ctx context.Context, s *Subscribe) SubscribeResult
	}
	OnAuthM5 interface {
		OnAuthM5(ctx context.Context, a *AuthRequest) AuthResult
	}
	OnDeliver interface {
		OnDeliver(ctx context.Context, d *Deliver) DeliverResult
	}
)

// Notification hook kinds, one interface each.
type (
	OnRegister interface {
		OnRegister(ctx context.Context, c Client)
	}
	OnPublish interface {
		OnPublish(ctx context.Context, c Client, m *message.Message)
	}
	OnSubscribe interface {
		OnSubscribe(ctx context.Context, c Client, topics []Topic)
	}
	OnUnsubscribe interface {
		OnUnsubscribe(ctx context.Context, c Client, filters []string)
	}
	OnOfflineMessage interface {
		OnOfflineMessage(ctx context.Context, c Client, m *message.Message)
	}
	OnClientWakeup interface {
		OnClientWakeup(ctx context.Context, c Client)
	}
	OnClientOffline interface {
		OnClientOffline(ctx context.Context, c Client)
	}
	OnClientGone interface {
		OnClientGone(ctx context.Context, c Client)
	}
	OnSessionExpired interface {
		OnSessionExpired(ctx context.Context, mountpoint, clientID string)
	}
	OnMessageDrop interface {
		OnMessageDrop(ctx context.Context, mountpoint, clientID string, m *message.Message, reason string)
	}
)
