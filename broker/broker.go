// Package broker composes a Nautilus node: listeners, sessions, the registry, hooks, metrics
// and the $SYS tree, from a configuration. cmd/nautilus builds one Broker and runs it; tests
// build one on loopback ports and drive it with real clients.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nautilus-mq/nautilus/broker/admin"
	"github.com/nautilus-mq/nautilus/broker/authguard"
	"github.com/nautilus-mq/nautilus/broker/cluster"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/hooks"
	"github.com/nautilus-mq/nautilus/broker/listener"
	"github.com/nautilus-mq/nautilus/broker/message"
	"github.com/nautilus-mq/nautilus/broker/metadata"
	"github.com/nautilus-mq/nautilus/broker/metrics"
	"github.com/nautilus-mq/nautilus/broker/packet"
	"github.com/nautilus-mq/nautilus/broker/persist"
	"github.com/nautilus-mq/nautilus/broker/queue"
	"github.com/nautilus-mq/nautilus/broker/registry"
	"github.com/nautilus-mq/nautilus/broker/session"
	"github.com/nautilus-mq/nautilus/store"
)

// Options are what the caller supplies besides the configuration.
type Options struct {
	Log *slog.Logger
	// Metadata is the replicated metadata store; when nil, Backend is opened, and without one
	// the node keeps its metadata alone (write-through to its database).
	Metadata metadata.Store
	// Backend is the replication backend cmd/ links.
	Backend *Backend
	// Plugins are the enabled plugins in hook order.
	Plugins []any
	// Keyspaces are extra store keyspaces a replication backend needs in the node's database.
	Keyspaces []store.Keyspace
	// StoreFaults, for tests, injects write and sync failures into the node's database.
	StoreFaults store.Injector
}

// Broker is one running node.
type Broker struct {
	cfg *config.Config
	// connectBudget bounds what all connections not yet authenticated hold in large packets.
	connectBudget *packet.Budget
	log           *slog.Logger
	metrics       *metrics.Registry
	counters      *metrics.Broker
	meta          metadata.Store
	reg           *registry.Registry
	env           *session.Env

	db      *store.DB
	persist *persist.Store
	policy  queue.Policy

	clusterNode *cluster.Node
	transport   cluster.Transport
	runCtx      context.Context
	stopRun     context.CancelFunc

	mu        sync.Mutex
	listeners []*listener.Listener
	cancel    context.CancelFunc
	started   time.Time
	sysDone   chan struct{}
	overload  *overload
	shed      *metrics.Counter
	admin     *admin.Server // the admin HTTP API on listener.http.*; set by Start

	backendName string
}

// New builds a broker from cfg; Start runs it.
func New(cfg *config.Config, opts Options) (*Broker, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{cfg: cfg, log: log, metrics: metrics.NewRegistry(), meta: opts.Metadata}
	b.counters = metrics.NewBroker(b.metrics)
	b.shed = b.metrics.Counter("connections_shed", "CONNECTs refused because the node was overloaded")
	b.overload = &overload{maxMemory: int64(cfg.Overload.MaxMemory), maxQueued: int64(cfg.Overload.MaxQueuedMessages),
		onChange: func(shedding bool, heap, queued int64) {
			if shedding {
				log.Warn("overloaded: refusing new connections", "heap_bytes", heap, "queued_messages", queued,
					"max_memory", cfg.Overload.MaxMemory, "max_queued_messages", cfg.Overload.MaxQueuedMessages)
			} else {
				log.Info("no longer overloaded: accepting new connections", "heap_bytes", heap, "queued_messages", queued)
			}
		}}
	b.metrics.GaugeFunc("queue_messages", "messages queued node-wide", b.overload.queued.Load)
	keyspaces := opts.Keyspaces
	b.backendName = "none"
	if opts.Backend != nil {
		b.backendName = opts.Backend.Name
		keyspaces = append(append([]store.Keyspace(nil), keyspaces...), opts.Backend.Keyspaces...)
	}
	db, err := openStore(cfg, keyspaces, opts.StoreFaults)
	if err != nil {
		return nil, err
	}
	b.db = db
	if b.persist, err = persist.Open(db); err != nil {
		db.Close()
		return nil, err
	}
	message.RaiseIDs(b.persist.Messages().MaxID())
	b.runCtx, b.stopRun = context.WithCancel(context.Background())
	switch {
	case b.meta != nil:
	case opts.Backend != nil:
		if err := b.openMetadata(b.runCtx, opts.Backend); err != nil {
			b.closeCluster()
			db.Close()
			return nil, err
		}
	case clustered(cfg):
		db.Close()
		return nil, fmt.Errorf("broker: listener.vmq is configured but this build links no replication backend that can run a cluster")
	default:
		m, err := persist.OpenMetadata(db, cfg.Node.Nodename)
		if err != nil {
			db.Close()
			return nil, err
		}
		b.meta = m
	}
	sessions := session.NewTable()
	chain := hooks.NewChain(opts.Plugins...)
	ropts := registry.Options{
		Node:         cfg.Node.Nodename,
		SharedPolicy: registry.SharedPolicy(cfg.Sessions.SharedSubscriptionPolicy),
		UpgradeQoS:   cfg.Sessions.UpgradeOutgoingQoS,
		LogInterval:  cfg.Log.RefusalInterval,
	}
	if b.clusterNode != nil {
		ropts.Transport = b.transport
		ropts.HoldBytes = int(cfg.Cluster.OutgoingBufferSize)
		ropts.Outbox = b.persist.Outbox()
		ropts.WaitToReceive = true // until restoreSessions below
		ropts.Receipts = b.persist
		ropts.AllowPublish = cfg.Cluster.AllowPublishDuringNetsplit
		ropts.AllowSubscribe = cfg.Cluster.AllowSubscribeDuringNetsplit
		ropts.AllowUnsubscribe = cfg.Cluster.AllowUnsubscribeDuringNetsplit
		ropts.SubscribeWaitsForCluster = cfg.Cluster.SubscribeWaitsForCluster
		ropts.SubscribeWaitTimeout = cfg.Cluster.SubscribeWaitTimeout
		ropts.OnDrop = func(m *message.Message, clientID, reason string) {
			b.counters.Dropped.Inc()
			chain.MessageDropped(context.Background(), m.Mountpoint, clientID, m, reason)
		}
	}
	reg, err := registry.New(context.Background(), ropts, b.meta, sessions, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	b.reg = reg
	b.env = &session.Env{
		Hooks:    chain,
		Router:   reg,
		Sessions: sessions,
		Metrics:  b.counters,
		Log:      log,
		Now:      time.Now,
		Persist:  persister{s: b.persist, log: &storeErrorLog{log: log}},

		LogInterval: cfg.Log.RefusalInterval,
		Throttle: authguard.New(authguard.Limits{IPFailures: cfg.Throttle.Failures, UserFailures: cfg.Throttle.UsernameFailures,
			Window: cfg.Throttle.Window, Block: cfg.Throttle.Block, MaxKeys: cfg.Throttle.MaxTracked}),
	}
	if b.clusterNode != nil {
		b.env.EnableCluster(session.ClusterOptions{Transport: b.transport, AllowRegister: cfg.Cluster.AllowRegisterDuringNetsplit,
			Unreachable: reg.Unreachable, DrainTime: cfg.Cluster.MaxDrainTime, Policy: b.queuePolicy()})
	}
	b.metrics.GaugeFunc("retain_messages", "retained messages", func() int64 { return int64(reg.RetainedCount()) })
	b.metrics.GaugeFunc("router_subscriptions", "subscriptions in the routing table", func() int64 { return int64(reg.Subscriptions()) })
	b.metrics.GaugeFunc("queue_processes", "sessions (online and offline) on this node", func() int64 { return int64(sessions.Len()) })
	b.metrics.GaugeFunc("uptime_seconds", "seconds since the broker started", func() int64 {
		if b.started.IsZero() {
			return 0
		}
		return int64(time.Since(b.started) / time.Second)
	})
	b.policy = b.queuePolicy()
	b.connectBudget = packet.NewBudget(int64(cfg.Sessions.UnauthenticatedBuffer))
	if err := b.restoreSessions(context.Background(), b.policy); err != nil {
		b.Shutdown(context.Background())
		return nil, err
	}
	b.reg.AcceptForwarded()
	for _, lc := range cfg.Listeners {
		if !lc.Type.MQTT() {
			continue
		}
		l, err := b.newListener(lc)
		if err != nil {
			return nil, err
		}
		b.listeners = append(b.listeners, l)
	}
	return b, nil
}

func (b *Broker) newListener(lc config.Listener) (*listener.Listener, error) {
	s := &b.cfg.Sessions
	policy := b.policy
	expiration := time.Duration(-1)
	if s.PersistentClientExpiration > 0 {
		expiration = s.PersistentClientExpiration
	}
	versions := map[byte]bool{}
	for _, v := range lc.AllowedProtocolVersions {
		versions[byte(v)] = true
	}
	opts := &session.Options{
		Listener:         lc.Key(),
		Mountpoint:       lc.Mountpoint,
		AllowAnonymous:   b.cfg.Auth.AllowAnonymous || lc.AllowAnonymousOverride,
		AllowedVersions:  versions,
		MaxClientIDSize:  s.MaxClientIDSize,
		ConnectTimeout:   lc.ConnectTimeout,
		MaxInflight:      s.MaxInflightMessages,
		ReceiveMaximum:   uint16(b.cfg.MQTT5.ReceiveMaxBroker),
		ReceiveMaxClient: uint16(b.cfg.MQTT5.ReceiveMaxClient),
		MaxPacketSize:    int(s.MaxMessageSize),
		MaxConnectSize:   int(s.MaxConnectSize),
		ConnectBudget:    b.connectBudget,
		// As in VerneMQ (vmq_mqtt5_fsm) and docs/configuration.md: topic_alias_max_client is what
		// clients may use towards the broker (sent in CONNACK), topic_alias_max_broker what the
		// broker uses towards a client.
		TopicAliasMaxIn:       uint16(b.cfg.MQTT5.TopicAliasMaxClient),
		TopicAliasMaxOut:      uint16(b.cfg.MQTT5.TopicAliasMaxBroker),
		RetryInterval:         s.RetryInterval,
		MaxKeepAlive:          uint16(s.MaxKeepalive / time.Second),
		TopicMaxDepth:         s.TopicMaxDepth,
		Queue:                 policy,
		PersistentExpiration:  expiration,
		SuppressLWTOnTakeover: s.SuppressLWTOnTakeover,
		MultipleSessions:      s.AllowMultipleSessions,
		DeliverBalance:        s.QueueDeliverMode == config.DeliverBalance,
		MaxMessageRate:        s.MaxMessageRate,
		OutboundQueue:         16,
		Admit: func() bool {
			if b.overload.admit() {
				return true
			}
			b.shed.Inc()
			return false
		},
	}
	handler := func(ctx context.Context, nc net.Conn) {
		session.Serve(ctx, b.env, opts, nc)
	}
	lcfg, err := listenerConfig(lc, s.MaxMessageSize)
	if err != nil {
		return nil, err
	}
	return listener.New(lcfg, handler, b.log)
}

// listenerConfig turns a configured listener into what broker/listener runs.
func listenerConfig(lc config.Listener, maxMessageSize config.Size) (listener.Config, error) {
	c := listener.Config{
		Name: lc.Key(), Address: lc.Address, MaxConnections: lc.MaxConnections,
		HandshakeTimeout: lc.ConnectTimeout,
		ProxyProtocol:    lc.ProxyProtocol,
		ProxyUseCN:       lc.ProxyProtocol && lc.ProxyProtocolUseCNAsUsername,
	}
	if lc.Type == config.ListenerUnix {
		c.Network = "unix"
	}
	if lc.Type.TLS() {
		c.TLS = &listener.TLSConfig{
			CertFile: lc.CertFile, KeyFile: lc.KeyFile, KeyPasswd: lc.KeyPasswd,
			CAFile: lc.CAFile, CRLFile: lc.CRLFile, Ciphers: lc.Ciphers,
			MinVersion:            tls.VersionTLS12,
			RequireCertificate:    lc.RequireCertificate,
			UseIdentityAsUsername: lc.UseIdentityAsUsername,
			Depth:                 lc.Depth,
		}
		if lc.TLSVersion == config.TLS13 {
			c.TLS.MinVersion = tls.VersionTLS13
		}
	}
	if lc.Type.WebSocket() {
		trusted, err := config.ParseTrustedProxies(lc.ProxyXFFTrusted)
		if err != nil {
			return c, fmt.Errorf("broker: %s.proxy_xff_trusted_intermediate: %w", lc.Key(), err)
		}
		c.WebSocket = &listener.WebSocketConfig{Path: lc.WebSocketPath, MaxMessageSize: int64(maxMessageSize),
			XFF: lc.ProxyXFFSupport, Trusted: trusted}
	}
	return c, nil
}

func (b *Broker) queuePolicy() queue.Policy {
	s := &b.cfg.Sessions
	policy := queue.Policy{MaxOnline: s.MaxOnlineMessages, MaxOffline: s.MaxOfflineMessages, QoS0Offline: s.QueueQoS0Messages, Total: &b.overload.queued}
	if s.QueueType == config.QueueLIFO {
		policy.Type = queue.LIFO
	}
	return policy
}

// Start opens every listener and starts the $SYS publisher.
func (b *Broker) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	b.mu.Lock()
	b.cancel = cancel
	b.started = time.Now()
	b.mu.Unlock()
	// The admin API first: once a client can connect, an operator can too.
	a, err := admin.Start(ctx, admin.Options{Node: b, Config: b.cfg, Log: b.log})
	if err != nil {
		b.Shutdown(context.Background())
		return err
	}
	b.mu.Lock()
	b.admin = a
	b.mu.Unlock()
	for _, l := range b.listeners {
		if err := l.Start(ctx); err != nil {
			b.Shutdown(context.Background())
			return err
		}
	}
	go b.overload.sample(ctx)
	go b.sweepExpired(ctx)
	if b.cfg.SysTree.Enabled && b.cfg.SysTree.Interval > 0 {
		b.sysDone = make(chan struct{})
		go b.publishSysTree(ctx, b.cfg.SysTree.Interval)
	}
	return nil
}

// Listeners returns the MQTT listeners, for addresses and admin commands.
func (b *Broker) Listeners() []*listener.Listener { return b.listeners }

// Metrics returns the node's metrics registry.
func (b *Broker) Metrics() *metrics.Registry { return b.metrics }

// Shutdown stops accepting, ends every connection with DISCONNECT 0x8B (MQTT 5) and waits for
// the sessions to settle, up to ctx's deadline.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	a := b.admin
	b.mu.Unlock()
	a.Stop(ctx)
	for _, l := range b.listeners {
		l.Stop()
	}
	b.env.Shutdown(ctx, packet.ServerShuttingDown)
	// Connections still in their handshake are not sessions yet: wait for every connection a
	// listener accepted before the store they write to closes.
	waited := make(chan struct{})
	go func() {
		for _, l := range b.listeners {
			l.Wait()
		}
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		b.log.Warn("shutdown timeout: closing with connections still open")
	}
	b.mu.Lock()
	if b.cancel != nil {
		b.cancel()
	}
	b.mu.Unlock()
	if b.sysDone != nil {
		<-b.sysDone
	}
	b.reg.Close()
	var errs []error
	if c, ok := b.meta.(interface{ Close() error }); ok {
		errs = append(errs, c.Close())
	}
	errs = append(errs, b.closeCluster())
	b.stopRun()
	if b.db != nil {
		if b.persist != nil {
			errs = append(errs, b.persist.Close())
		}
		errs = append(errs, b.db.Close())
		b.db = nil
	}
	return errors.Join(errs...)
}

// sysTopic turns a metric name into its $SYS topic: mqtt_publish_received under node n is
// $SYS/n/mqtt/publish/received, VerneMQ's layout.
func sysTopic(node, metric string) string {
	return "$SYS/" + node + "/" + strings.ReplaceAll(metric, "_", "/")
}

// closeCluster stops the node's cluster membership and links; peers see it fail and see it
// again when it restarts under the same name.
func (b *Broker) closeCluster() error {
	if b.clusterNode == nil {
		return nil
	}
	err := b.clusterNode.Close()
	b.clusterNode = nil
	return err
}

// ClusterNode is the node's cluster transport, or nil on a node without listener.vmq.
func (b *Broker) ClusterNode() *cluster.Node { return b.clusterNode }

// Admin is the admin HTTP API server (its Addrs), nil before Start.
func (b *Broker) Admin() *admin.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.admin
}

// MetadataBackend names the linked replication backend ("none" when the node was given its
// metadata store directly).
func (b *Broker) MetadataBackend() string { return b.backendName }

// JoinCluster joins the cluster of the member at the gossip address addr, through the
// metadata backend when it has a say (SWC refuses while this node holds data, see
// vmq_swc.prevent_nonempty_join).
func (b *Broker) JoinCluster(addr string) error {
	if b.clusterNode == nil {
		return errors.New("broker: this node has no cluster listener (listener.vmq.<name>) to join with")
	}
	if c, ok := b.meta.(metadata.Cluster); ok {
		return c.Join(addr)
	}
	return b.clusterNode.Join(addr)
}

// LeaveCluster makes this node leave its cluster gracefully: it stops its MQTT listeners, ends
// every connection (MQTT 5: DISCONNECT 0x9C, Use another server), hands each persistent session
// with its queued and in-flight messages to another member (or, with kill, ends them all), and
// then leaves. If a session could not be handed off the node does not leave: it stays a member,
// with its listeners stopped and the session kept, so the operator can retry.
func (b *Broker) LeaveCluster(ctx context.Context, kill bool) (session.HandoffResult, error) {
	if b.clusterNode == nil {
		return session.HandoffResult{}, errors.New("broker: this node has no cluster listener (listener.vmq.<name>) to leave")
	}
	for _, l := range b.listeners {
		l.Stop()
	}
	res, err := b.env.Handoff(ctx, kill)
	if err != nil {
		return res, err
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("broker: %d sessions could not be handed to another node and stay here; the node has not left (its listeners are stopped); retry the leave, or leave with kill_sessions", res.Failed)
	}
	return res, b.clusterNode.Leave()
}

// Session reports whether the node holds a session for the client, whether a connection is
// attached to it and, when one is, its peer address (as hooks see it) and listener (for the
// admin API and tests).
func (b *Broker) Session(mountpoint, clientID string) (exists, online bool, conn session.ConnInfo) {
	s := b.env.Sessions.Get(queue.SubscriberID{Mountpoint: mountpoint, ClientID: clientID})
	if s == nil {
		return false, false, session.ConnInfo{}
	}
	conn, online = s.Connection()
	return true, online, conn
}
