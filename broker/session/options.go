package session

import (
	"log/slog"
	"time"

	"github.com/nautilus-mq/nautilus/broker/authguard"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/metrics"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/queue"
)

// Options are the broker settings a connection obeys. The broker fills them from the
// configuration; listener-specific values (mountpoint, anonymous override) are per listener.
type Options struct {
	Listener        string
	Mountpoint      string
	AllowAnonymous  bool
	AllowedVersions map[byte]bool // protocol levels incl. 131/132 for bridges; nil allows all
	MaxClientIDSize int
	ConnectTimeout  time.Duration
	MaxInflight     int    // max_inflight_messages; 0 means no limit beyond the client's receive maximum
	ReceiveMaximum  uint16 // what MQTT 5 clients may have in flight towards the broker
	// ReceiveMaxClient caps the Receive Maximum a client announces: how many unacknowledged
	// QoS 1/2 messages the broker sends it at once (receive_max_client); 0 is no cap.
	ReceiveMaxClient uint16
	MaxPacketSize    int // max_message_size; 0 means the protocol's limit
	// MaxConnectSize bounds the packets read before the client is authenticated (max_connect_size);
	// 0 means MaxPacketSize. ConnectBudget, shared by every listener, bounds what all connections
	// not yet authenticated hold in large packets at once (max_unauthenticated_buffer).
	MaxConnectSize   int
	ConnectBudget    *packet.Budget
	TopicAliasMaxIn  uint16 // topic_alias_max_client: aliases a client may use towards us
	TopicAliasMaxOut uint16 // topic_alias_max_broker: aliases we use towards a client at most
	RetryInterval    time.Duration
	MaxKeepAlive     uint16 // 0: accept what the client asks
	TopicMaxDepth    int
	Queue            queue.Policy
	// PersistentExpiration bounds how long an offline persistent session lives; negative means
	// never (VerneMQ's persistent_client_expiration = never).
	PersistentExpiration  time.Duration
	SuppressLWTOnTakeover bool
	// MultipleSessions lets several connections share one client id's session on this node
	// (allow_multiple_sessions); DeliverBalance gives each message to one of them instead of
	// to each (queue_deliver_mode = balance).
	MultipleSessions bool
	DeliverBalance   bool
	MaxMessageRate   int // PUBLISH per second a client may send; 0 is unlimited
	OutboundQueue    int // control packets buffered towards the writer
	// Admit, when set, is asked before a CONNECT is authenticated; false refuses the client
	// with Server busy (0x89; 3.1.x: server unavailable), so an overloaded node sheds new
	// connections before it harms the ones it has. Clients resuming a stored session are not
	// asked about: they drain the backlog.
	Admit func() bool
}

// Router is what a session needs of the routing layer: the registry implements it.
type Router interface {
	// Publish routes m to every matching subscriber (and stores or clears it as retained when
	// m.Retain is set) and returns how many subscriptions matched. An error means a persistent
	// subscriber's store refused the message: the publisher must not be told it is safe.
	Publish(m *message.Message) (int, error)
	// PublishNoWait is Publish that returns once the stores' writes are applied and adds
	// their durability to pend: the caller waits on pend before it acknowledges m.
	PublishNoWait(m *message.Message, pend *queue.Pending) (int, error)
	// Subscribe records subs for id and reports, for each, whether it is new.
	Subscribe(id queue.SubscriberID, subs []Subscription) ([]bool, error)
	// SubscribeNoWait is Subscribe that adds the record's durability to pend. Routing follows
	// the subscriptions when it returns, whether or not the caller waits.
	SubscribeNoWait(id queue.SubscriberID, subs []Subscription, pend *queue.Pending) ([]bool, error)
	// Unsubscribe removes filters and reports, for each, whether it existed.
	Unsubscribe(id queue.SubscriberID, filters []string) ([]bool, error)
	// UnsubscribeNoWait is Unsubscribe as SubscribeNoWait is Subscribe.
	UnsubscribeNoWait(id queue.SubscriberID, filters []string, pend *queue.Pending) ([]bool, error)
	// RemoveSubscriber deletes every subscription of id.
	RemoveSubscriber(id queue.SubscriberID)
	// Retained calls fn for each retained message (in mountpoint) that matches filter.
	Retained(mountpoint, filter string, fn func(*message.Message))
}

// Env is what every connection of a node shares.
type Env struct {
	Hooks    *hooks.Chain
	Router   Router
	Sessions *Table
	Metrics  *metrics.Broker
	Log      *slog.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Persist, when set, keeps persistent sessions across restarts.
	Persist Persister
	// LogInterval is how often refusals a client can repeat at will are summarised in the log
	// (log.refusal_interval, refusals.go); zero logs each.
	LogInterval time.Duration

	logs envLogs
	// Throttle, when set, refuses logins from addresses and usernames that failed too often,
	// before the auth plugins are asked (auth_throttle.*).
	Throttle *authguard.Guard

	cluster *clusterSessions // set by EnableCluster
}

// connectLimit is the largest packet read before the client is authenticated.
func (o *Options) connectLimit() int {
	if o.MaxConnectSize > 0 && (o.MaxPacketSize <= 0 || o.MaxConnectSize < o.MaxPacketSize) {
		return o.MaxConnectSize
	}
	return o.MaxPacketSize
}
