package config

import "time"

// Config is a node's effective configuration. Each tagged field is one key of nautilus.conf:
//
//	key      the name in the file (VerneMQ's name where the feature matches)
//	default  the built-in value, written as it would be in the file
//	doc      one line for `config show` and docs/configuration.md
//	unit     for durations: the unit of a bare integer, "s" (default) or "ms"
//	alias    words standing for a value, "infinity=-1" or "never=0"
//	min/max  the valid range, checked by Validate
//	secret   "on": `config show` prints (hidden) instead of a set value
//
// Untagged struct fields are groups; their `group` tag titles a section of the reference.
// To add a key, add a field here (or to ListenerOptions for a per-listener option).
type Config struct {
	Node     NodeConfig     `group:"Node"`
	Sessions SessionsConfig `group:"Sessions and queues"`
	MQTT5    MQTT5Config    `group:"MQTT 5"`
	Auth     AuthConfig     `group:"Authentication and plugins"`
	Throttle ThrottleConfig `group:"Login throttling"`
	Log      LogConfig      `group:"Logging"`
	Store    StoreConfig    `group:"Storage"`
	Cluster  ClusterConfig  `group:"Cluster and netsplits"`
	SysTree  SysTreeConfig  `group:"$SYS tree"`
	Overload OverloadConfig `group:"Overload protection"`
	Plumtree PlumtreeConfig `group:"Plumtree metadata replication"`
	SWC      SWCConfig      `group:"SWC metadata replication (-tags swc)"`
	Admin    AdminConfig    `group:"Admin HTTP API (listener.http)"`

	// Listeners are resolved from listener.<type>.<name> keys, sorted by type then name, each
	// with its options already resolved through the cascade.
	Listeners []Listener

	// File is the configuration file that was read; empty when only built-in defaults and the
	// environment apply.
	File string

	// sources records where each key's effective value came from, for `config show` and for
	// validation errors that point at the line to fix.
	sources map[string]Source
}

type NodeConfig struct {
	Nodename                string        `key:"nodename" default:"nautilus@127.0.0.1" doc:"name of this node in the cluster, name@host"`
	PlatformDataDir         string        `key:"platform_data_dir" default:"./data" doc:"directory for the message store and replicated metadata"`
	GracefulShutdownTimeout time.Duration `key:"graceful_shutdown_timeout" default:"30s" doc:"how long a stopping node waits for sessions to drain before closing them"`
}

type SessionsConfig struct {
	MaxClientIDSize            int              `key:"max_client_id_size" default:"100" min:"1" max:"65535" doc:"longest client id accepted in CONNECT, in bytes"`
	MaxInflightMessages        int              `key:"max_inflight_messages" default:"20" min:"0" max:"65535" doc:"QoS 1/2 messages in flight to one client at a time; 0 = no limit"`
	MaxOnlineMessages          int              `key:"max_online_messages" default:"1000" min:"-1" doc:"messages queued for a connected client beyond those in flight; -1 = no limit"`
	MaxOfflineMessages         int              `key:"max_offline_messages" default:"1000" min:"-1" doc:"QoS 1/2 messages kept for a disconnected persistent session; -1 = no limit, 0 = none"`
	QueueType                  QueueType        `key:"queue_type" default:"fifo" doc:"order a queue delivers in: fifo or lifo"`
	QueueDeliverMode           QueueDeliverMode `key:"queue_deliver_mode" default:"fanout" doc:"with allow_multiple_sessions: fanout to every session or balance across them"`
	QueueQoS0Messages          bool             `key:"queue_qos0_messages" default:"off" doc:"also keep QoS 0 messages for disconnected persistent sessions"`
	MaxMessageRate             int              `key:"max_message_rate" default:"0" min:"0" doc:"incoming PUBLISH packets per second per session; 0 = no limit"`
	MaxMessageSize             Size             `key:"max_message_size" default:"1MB" max:"268435460" doc:"largest MQTT packet accepted, checked before the body is read; 0 = the MQTT maximum (256 MB)"`
	MaxConnectSize             Size             `key:"max_connect_size" default:"64KB" min:"0" max:"268435460" doc:"largest CONNECT (and AUTH during the handshake) accepted before the client is authenticated; 0 = max_message_size"`
	UnauthenticatedBuffer      Size             `key:"max_unauthenticated_buffer" default:"64MB" min:"0" doc:"bytes that all connections not yet authenticated may hold in CONNECT and AUTH packets larger than 4 KB at once; past it such a packet is refused; 0 = no limit"`
	RetryInterval              time.Duration    `key:"retry_interval" default:"20s" doc:"wait before resending an unacknowledged QoS 1/2 message"`
	PersistentClientExpiration time.Duration    `key:"persistent_client_expiration" default:"never" alias:"never=0" doc:"remove persistent sessions offline this long; never = keep them"`
	MaxKeepalive               time.Duration    `key:"max_keepalive" default:"0s" max:"65535s" doc:"cap on a client's keep alive, sent as MQTT 5 server keep alive; 0 = no cap"`
	AllowMultipleSessions      bool             `key:"allow_multiple_sessions" default:"off" doc:"let several connections share one client id (non-standard)"`
	UpgradeOutgoingQoS         bool             `key:"upgrade_outgoing_qos" default:"off" doc:"deliver with the subscription's QoS even when it exceeds the publish QoS (non-standard)"`
	SuppressLWTOnTakeover      bool             `key:"suppress_lwt_on_session_takeover" default:"off" doc:"do not send the will message when a new connection takes a session over"`
	SharedSubscriptionPolicy   SharedSubPolicy  `key:"shared_subscription_policy" default:"prefer_local" doc:"how a shared subscription picks a subscriber: prefer_local, local_only, random, prefer_online_before_local"`
	TopicMaxDepth              int              `key:"topic_max_depth" default:"10" min:"1" doc:"most levels a topic or filter may have"`
}

type MQTT5Config struct {
	TopicAliasMaxClient int `key:"topic_alias_max_client" default:"0" min:"0" max:"65535" doc:"topic aliases a client may use towards the broker; 0 = none"`
	TopicAliasMaxBroker int `key:"topic_alias_max_broker" default:"0" min:"0" max:"65535" doc:"topic aliases the broker may use towards a client; 0 = none"`
	ReceiveMaxClient    int `key:"receive_max_client" default:"65535" min:"1" max:"65535" doc:"cap on the receive maximum a client announces: unacknowledged QoS 1/2 PUBLISHes sent to it"`
	ReceiveMaxBroker    int `key:"receive_max_broker" default:"65535" min:"1" max:"65535" doc:"receive maximum the broker announces in CONNACK; a client exceeding it is disconnected"`
}

type AuthConfig struct {
	AllowAnonymous         bool          `key:"allow_anonymous" default:"off" doc:"accept clients without authentication (testing only)"`
	PluginVmqPasswd        bool          `key:"plugins.vmq_passwd" default:"on" doc:"password file authentication (vmq_passwd)"`
	PluginVmqACL           bool          `key:"plugins.vmq_acl" default:"on" doc:"ACL file authorization (vmq_acl)"`
	PluginVmqWebhooks      bool          `key:"plugins.vmq_webhooks" default:"off" doc:"HTTP webhooks for auth and event hooks (vmq_webhooks)"`
	PasswordFile           string        `key:"vmq_passwd.password_file" default:"./etc/vmq.passwd" doc:"password file read by vmq_passwd"`
	PasswordReloadInterval time.Duration `key:"vmq_passwd.password_reload_interval" default:"10s" doc:"how often the password file is re-read; 0 = never"`
	ACLFile                string        `key:"vmq_acl.acl_file" default:"./etc/vmq.acl" doc:"ACL file read by vmq_acl"`
	ACLReloadInterval      time.Duration `key:"vmq_acl.acl_reload_interval" default:"10s" doc:"how often the ACL file is re-read; 0 = never"`
}

// ThrottleConfig slows password guessing (broker/authguard): after too many failed logins a
// client address, or a username, is refused for a while without asking the auth plugins.
// docs/security.md explains the lockout trade-off of the per-username limit.
type ThrottleConfig struct {
	Failures         int           `key:"auth_throttle.failures" default:"10" min:"0" doc:"failed logins from one client address within auth_throttle.window that block the address; 0 = no per-address limit"`
	UsernameFailures int           `key:"auth_throttle.username_failures" default:"50" min:"0" doc:"failed logins for one username (from any address) within the window that block the username; lets an attacker lock the user out, so keep it above auth_throttle.failures; 0 = no per-username limit"`
	Window           time.Duration `key:"auth_throttle.window" default:"1m" min:"1s" doc:"how long failed logins are counted, from the first one"`
	Block            time.Duration `key:"auth_throttle.block" default:"1m" min:"1s" doc:"how long a blocked address or username is refused (CONNACK connection rate exceeded; 3.1.x: not authorized) without asking the auth plugins"`
	MaxTracked       int           `key:"auth_throttle.max_tracked" default:"100000" min:"1" doc:"addresses and usernames tracked at most (about 200 bytes each); past it the least recently failing is forgotten"`
}

type LogConfig struct {
	Console        ConsoleOutput `key:"log.console" default:"console" doc:"log to standard error (console) or not (off)"`
	ConsoleLevel   LogLevel      `key:"log.console.level" default:"info" doc:"lowest level logged to the console: debug, info, warning, error"`
	ConsoleFormat  LogFormat     `key:"log.console.format" default:"text" doc:"console log format: text or json"`
	File           string        `key:"log.file" default:"" doc:"log file path; empty = no file log"`
	FileLevel      LogLevel      `key:"log.file.level" default:"info" doc:"lowest level logged to the file"`
	FileFormat     LogFormat     `key:"log.file.format" default:"json" doc:"file log format: text or json"`
	FileMaxSize    Size          `key:"log.file.max_size" default:"100MB" doc:"rotate the log file when it reaches this size; 0 = never"`
	FileMaxBackups int           `key:"log.file.max_backups" default:"5" min:"0" doc:"rotated log files kept"`
	FileMaxAge     time.Duration `key:"log.file.max_age" default:"0s" doc:"delete rotated log files older than this (whole days); 0 = keep them"`
	Syslog         bool          `key:"log.syslog" default:"off" doc:"also log to syslog"`
	SyslogLevel    LogLevel      `key:"log.syslog.level" default:"info" doc:"lowest level sent to syslog"`
	SyslogAddress  string        `key:"log.syslog.address" default:"" doc:"syslog server: udp://host:port, tcp://host:port, unix:///path or host:port (UDP); empty = the local syslog"`
	SyslogFacility string        `key:"log.syslog.facility" default:"daemon" doc:"syslog facility: daemon, user or local0 to local7"`
	// RefusalInterval keeps a flood of refusals from flooding the log (see docs/security.md, Quiet logs under attack).
	RefusalInterval time.Duration `key:"log.refusal_interval" default:"10s" min:"0s" doc:"refused CONNECTs, refused publishes and protocol errors are logged once, then summarised at most once per this interval per cause; 0 = log each"`
}

type StoreConfig struct {
	Sync            SyncMode    `key:"store.sync" default:"batch" doc:"when writes reach the disk: always (each write), batch (grouped, before acknowledging) or off (OS decides)"`
	BlockCacheSize  Size        `key:"store.block_cache_size" default:"64MB" doc:"RocksDB block cache for reads"`
	WriteBufferSize Size        `key:"store.write_buffer_size" default:"64MB" min:"1MB" doc:"RocksDB memtable size before a flush to disk"`
	Compression     Compression `key:"store.compression" default:"snappy" doc:"RocksDB block compression: none, snappy, lz4 or zstd"`
}

type ClusterConfig struct {
	AllowRegisterDuringNetsplit    bool          `key:"allow_register_during_netsplit" default:"off" doc:"accept new connections while the cluster is partitioned"`
	AllowPublishDuringNetsplit     bool          `key:"allow_publish_during_netsplit" default:"off" doc:"accept PUBLISH while the cluster is partitioned"`
	AllowSubscribeDuringNetsplit   bool          `key:"allow_subscribe_during_netsplit" default:"off" doc:"accept SUBSCRIBE while the cluster is partitioned"`
	AllowUnsubscribeDuringNetsplit bool          `key:"allow_unsubscribe_during_netsplit" default:"off" doc:"accept UNSUBSCRIBE while the cluster is partitioned"`
	SubscribeWaitsForCluster       bool          `key:"subscribe_waits_for_cluster" default:"off" doc:"send SUBACK only once every reachable node routes the new subscriptions to this one (or the timeout passed): a publish anywhere right after SUBACK reaches the subscriber, at the price of SUBACK latency"`
	SubscribeWaitTimeout           time.Duration `key:"subscribe_waits_for_cluster_timeout" default:"5s" unit:"ms" min:"1ms" doc:"longest a SUBACK waits for the other nodes with subscribe_waits_for_cluster; then it is sent anyway and a warning logged"`
	MaxDrainTime                   time.Duration `key:"max_drain_time" default:"60s" unit:"ms" doc:"how long the old node forwards late messages to a session that moved to another node"`
	OutgoingBufferSize             Size          `key:"outgoing_clustering_buffer_size" default:"16MB" min:"1KB" doc:"bytes queued for one peer, also while its link is down; past it cluster messages are dropped and counted"`
	Gossip                         string        `key:"cluster.gossip" default:"" doc:"serf gossip address host:port (TCP and UDP); empty = the listener.vmq host and its port + 1"`
	Seeds                          string        `key:"cluster.seeds" default:"" doc:"comma-separated gossip addresses of nodes to join at start, retried until one answers"`
	SeedsDNS                       string        `key:"cluster.seeds_dns" default:"" doc:"name:port whose DNS A/AAAA records are gossip hosts to join at start (with cluster.seeds), looked up again at each retry; empty = none"`
	GossipKey                      string        `key:"cluster.gossip_key" default:"" secret:"on" doc:"base64 of a 16, 24 or 32-byte key that encrypts and authenticates gossip (AES-GCM), the same on every node; empty = gossip in the clear"`
	ReconnectInterval              time.Duration `key:"cluster.reconnect_interval" default:"10s" min:"100ms" unit:"ms" doc:"how often a failed member is tried again; after a partition heals, nodes find each other within it"`
	AutoClean                      time.Duration `key:"cluster.autoclean" default:"24h" min:"1m" unit:"ms" doc:"how long a failed member is waited for before the cluster forgets it; until then it counts as a netsplit (see allow_register_during_netsplit), and vmq-admin cluster leave removes it at once"`
	Secret                         string        `key:"cluster.secret" default:"" secret:"on" doc:"the cluster's shared secret, at least 16 characters, the same on every node: gossip is encrypted with a key derived from it and peer links run TLS 1.3 with certificates it issues; a node with a listener.vmq does not start without it (or without both listener.vmqs and cluster.gossip_key)"`
	SecretFile                     string        `key:"cluster.secret_file" default:"" doc:"file whose content (surrounding whitespace removed) is the cluster secret, for secrets kept out of the configuration (a Kubernetes secret, a vault agent); used when cluster.secret is empty"`
	DistributedCookie              string        `key:"distributed_cookie" default:"" secret:"on" doc:"VerneMQ's Erlang cookie, read as cluster.secret when neither cluster.secret nor cluster.secret_file is set (VerneMQ's default vmq_secret is too short and refused)"`
}

type SysTreeConfig struct {
	Enabled  bool          `key:"systree_enabled" default:"on" doc:"publish broker metrics under $SYS"`
	Interval time.Duration `key:"systree_interval" default:"20s" unit:"ms" doc:"how often $SYS is published; 0 = never"`
}

type OverloadConfig struct {
	MaxMemory         Size `key:"overload.max_memory" default:"0" doc:"refuse new clients (CONNACK server busy) while the process heap is above this; resuming sessions are still admitted; 0 = no limit"`
	MaxQueuedMessages int  `key:"overload.max_queued_messages" default:"0" min:"0" doc:"refuse new clients (CONNACK server busy) while all queues together hold more messages; resuming sessions are still admitted; 0 = no limit"`
}

// AdminConfig is the admin HTTP API served on every listener.http.<name>; docs/admin.md
// describes it.
type AdminConfig struct {
	APIKey            string        `key:"admin.api_key" default:"" secret:"on" doc:"key every admin API request must carry; empty = a key generated at first start and kept in platform_data_dir/admin_api_key; config show hides it"`
	MetricsRequireKey bool          `key:"admin.metrics_require_api_key" default:"off" doc:"require the API key on /metrics too (off: Prometheus scrapes without one)"`
	RequestTimeout    time.Duration `key:"admin.request_timeout" default:"15s" min:"1s" doc:"longest an admin API request may take, cluster join and leave included; slower ones get 503"`
}

// PlumtreeConfig tunes the Plumtree metadata backend (the default build); docs/replication.md
// explains each period and guard.
type PlumtreeConfig struct {
	LazyTick           time.Duration `key:"plumtree.lazy_tick" default:"10s" min:"100ms" doc:"how often outstanding i-have announcements are sent to lazy peers"`
	ExchangeTick       time.Duration `key:"plumtree.exchange_tick" default:"10s" min:"100ms" doc:"how often a node starts a Merkle-tree anti-entropy exchange with a random peer"`
	ExchangeTimeout    time.Duration `key:"plumtree.exchange_timeout" default:"60s" min:"1s" doc:"an exchange whose replies stopped coming is abandoned after this"`
	OutstandingLimit   int           `key:"plumtree.outstanding_limit" default:"250000" min:"1" doc:"announcements queued per lazy peer; beyond it anti-entropy repairs the peer later"`
	DropIHaveThreshold int           `key:"plumtree.drop_i_have_threshold" default:"1000000" min:"1" doc:"inbound backlog above which incoming i-have messages are dropped (they are re-sent)"`
	RepairBatch        int           `key:"plumtree.repair_batch" default:"100" min:"1" doc:"objects or keys one anti-entropy repair message carries"`
}

// SWCConfig tunes the Server Wide Clocks backend (`go build -tags swc`), with VerneMQ's key
// names; docs/replication.md explains each.
type SWCConfig struct {
	Groups              int           `key:"swc_groups" default:"10" min:"1" max:"100" doc:"independent replica groups the keyspace is split into by key hash; all nodes must agree"`
	SyncInterval        time.Duration `key:"vmq_swc.sync_interval" default:"5s" min:"10ms" doc:"how often each group pulls anti-entropy from a random peer"`
	SyncTimeout         time.Duration `key:"vmq_swc.sync_timeout" default:"60s" min:"1s" doc:"an anti-entropy exchange that has not finished by then is abandoned"`
	CallTimeout         time.Duration `key:"vmq_swc.fast_call_timeout" default:"5s" min:"10ms" doc:"the wait for each anti-entropy reply"`
	ExchangeBatchSize   int           `key:"vmq_swc.exchange_batch_size" default:"100" min:"1" doc:"objects one anti-entropy reply carries"`
	BatchSize           int           `key:"vmq_swc.batch_size" default:"1000" min:"1" doc:"queued writes applied in one atomic batch and broadcast together"`
	GCInterval          time.Duration `key:"vmq_swc.gc_interval" default:"15s" min:"10ms" doc:"how often each group collects deletes every member has seen"`
	PeriodicGC          bool          `key:"vmq_swc.periodic_gc" default:"on" doc:"collect deletes periodically; off leaves tombstones until turned on"`
	EnableBroadcast     bool          `key:"vmq_swc.enable_broadcast" default:"on" doc:"send each write batch to peers at once; off leaves replication to anti-entropy"`
	PreventNonemptyJoin bool          `key:"vmq_swc.prevent_nonempty_join" default:"on" doc:"refuse to join a cluster while this node holds data (protects against merging unrelated histories)"`
	InitSync            bool          `key:"vmq_swc.init_sync" default:"off" doc:"a node that holds nothing (new or wiped) streams its first exchange of each group from the peer in key order, then pulls the rest as usual"`
}
