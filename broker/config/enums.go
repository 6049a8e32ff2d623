package config

// The enumerated values of the configuration. Each is a string type whose Values method lists
// what the file may say; the schema checks membership, so a new enum needs only this.

type QueueType string

const (
	QueueFIFO QueueType = "fifo"
	QueueLIFO QueueType = "lifo"
)

func (QueueType) Values() []string { return []string{"fifo", "lifo"} }

type QueueDeliverMode string

const (
	DeliverFanout  QueueDeliverMode = "fanout"
	DeliverBalance QueueDeliverMode = "balance"
)

func (QueueDeliverMode) Values() []string { return []string{"fanout", "balance"} }

type SharedSubPolicy string

const (
	SharedPreferLocal             SharedSubPolicy = "prefer_local"
	SharedLocalOnly               SharedSubPolicy = "local_only"
	SharedRandom                  SharedSubPolicy = "random"
	SharedPreferOnlineBeforeLocal SharedSubPolicy = "prefer_online_before_local"
)

func (SharedSubPolicy) Values() []string {
	return []string{"prefer_local", "local_only", "random", "prefer_online_before_local"}
}

// ConsoleOutput is log.console. VerneMQ also had "file" and "both"; Nautilus has a separate
// log.file, so only the console itself can be switched here.
type ConsoleOutput string

const (
	ConsoleOn  ConsoleOutput = "console"
	ConsoleOff ConsoleOutput = "off"
)

func (ConsoleOutput) Values() []string { return []string{"console", "off"} }

// LogLevel uses VerneMQ's (lager's) word "warning"; broker/logging maps it to its own levels.
type LogLevel string

const (
	LevelDebug   LogLevel = "debug"
	LevelInfo    LogLevel = "info"
	LevelWarning LogLevel = "warning"
	LevelError   LogLevel = "error"
)

func (LogLevel) Values() []string { return []string{"debug", "info", "warning", "error"} }

type LogFormat string

const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

func (LogFormat) Values() []string { return []string{"text", "json"} }

type SyncMode string

const (
	SyncAlways SyncMode = "always"
	SyncBatch  SyncMode = "batch"
	SyncOff    SyncMode = "off"
)

func (SyncMode) Values() []string { return []string{"always", "batch", "off"} }

type Compression string

const (
	CompressionNone   Compression = "none"
	CompressionSnappy Compression = "snappy"
	CompressionLZ4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

func (Compression) Values() []string { return []string{"none", "snappy", "lz4", "zstd"} }

type TLSVersion string

const (
	TLS12 TLSVersion = "tlsv1.2"
	TLS13 TLSVersion = "tlsv1.3"
)

// Values leaves out tlsv1 and tlsv1.1, which VerneMQ accepted: Go's TLS stack and every
// current client have moved past them.
func (TLSVersion) Values() []string { return []string{"tlsv1.2", "tlsv1.3"} }

// ListenerType is the second part of a listener key, listener.<type>.<name>.
type ListenerType string

const (
	ListenerTCP  ListenerType = "tcp"  // MQTT over TCP
	ListenerSSL  ListenerType = "ssl"  // MQTT over TLS
	ListenerWS   ListenerType = "ws"   // MQTT over WebSocket
	ListenerWSS  ListenerType = "wss"  // MQTT over WebSocket over TLS
	ListenerVMQ  ListenerType = "vmq"  // cluster peer links
	ListenerVMQS ListenerType = "vmqs" // cluster peer links over mutual TLS
	ListenerHTTP ListenerType = "http" // admin API, status page and /metrics
	ListenerUnix ListenerType = "unix" // MQTT over a unix domain socket, for local tools
)

func (ListenerType) Values() []string {
	return []string{"tcp", "ssl", "ws", "wss", "vmq", "vmqs", "http", "unix"}
}

// TLS reports whether listeners of this type terminate TLS and so need certfile and keyfile.
func (t ListenerType) TLS() bool { return t == ListenerSSL || t == ListenerWSS }

// MQTT reports whether listeners of this type speak MQTT to clients.
func (t ListenerType) MQTT() bool {
	return t == ListenerTCP || t == ListenerSSL || t == ListenerWS || t == ListenerWSS || t == ListenerUnix
}

// Cluster reports whether listeners of this type carry the cluster's peer links.
func (t ListenerType) Cluster() bool { return t == ListenerVMQ || t == ListenerVMQS }

// WebSocket reports whether listeners of this type speak MQTT over WebSocket.
func (t ListenerType) WebSocket() bool { return t == ListenerWS || t == ListenerWSS }
