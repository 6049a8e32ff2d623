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
