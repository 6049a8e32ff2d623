package msgstore

// QueueID names one subscriber queue, by convention the mountpoint and client id joined by
// the caller. It is opaque bytes to the store.
type QueueID string

// Message is one published message as stored: immutable once enqueued.
type Message struct {
	ID         uint64 // unique per message on this node; chosen by the caller
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties []byte // MQTT 5 properties, encoded by the caller (msgpack); opaque here
	ExpiresAt  int64  // unix milliseconds; 0 = never
	// Receipt, when set, is recorded for every queue the message is enqueued to, in the same
	// batch, until Release: see Received.
	Receipt *Receipt
}

// Receipt names an incoming QoS 2 message by who sent it (an opaque owner: the publishing
// session's queue id, or a peer node's forwarding stream) and the identifier it came with (a
// packet identifier, or the stream's sequence number). A sender resends an unacknowledged
// message with the same identifier, so after a crash the receipts tell which queues already
// hold it and must not get it again.
type Receipt struct {
	Owner string
	ID    uint64
}

// Target is one queue a message goes to, with what differs per subscriber.
type Target struct {
	Queue  QueueID
	QoS    byte     // the QoS granted to this subscriber (min of publish and subscription)
	SubIDs []uint32 // subscription identifiers the delivery carries
}

// Entry is one queued delivery.
type Entry struct {
	Seq     uint64 // per-queue, increasing in enqueue order
	Message Message
	QoS     byte
	Dup     bool // sent before and not acknowledged: redeliver with DUP set
	SubIDs  []uint32
	// PacketID is the packet identifier the entry was last sent with (0: not recorded), and
	// Released whether its QoS 2 PUBREC came back: a restart resends the same packet, or the
	// PUBREL, so the client's own QoS 2 state keeps it from delivering the message twice.
	PacketID uint16
	Released bool
}

// Sent is how an entry went out: see MarkSent.
type Sent struct {
	Seq      uint64
	PacketID uint16
	Released bool
}

// Order chooses which end of a queue Read pages from.
type Order int

const (
	FIFO Order = iota // oldest first
	LIFO              // newest first
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// SweepBatch bounds the entries deleted per batch by Sweep and by Open's repair pass;
	// 0 means 1024.
	SweepBatch int
}

// Stats describe the store's contents, from memory (no I/O).
type Stats struct {
	Queues   int // queues with at least one entry
	Entries  int // queue entries
	Messages int // stored payloads
	// From the last Open: what the consistency pass found and removed.
	OrphansRemoved  int // payloads no entry pointed at
	DanglingRemoved int // entries whose payload was missing
}
