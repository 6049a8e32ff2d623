// Package msgstore is the offline message store: per-subscriber queues of QoS 1/2 messages
// waiting for a client to come back, kept on a store.Engine.
//
// One copy of each payload is stored however many queues hold it (as VerneMQ's
// vmq_lvldb_store does): the messages keyspace maps a message id to the message, and the
// queue_index keyspace holds one small entry per (queue, sequence) pointing at it. Reference
// counts live in memory only, rebuilt at Open by one scan of the queue index, so no operation
// rewrites a large value or even a counter key: an enqueue is one payload put plus one small
// put per subscriber, a delete is one small delete per entry plus the payload delete when the
// last reference goes, each operation one atomic batch.
//
// Batches are applied in the order the in-memory decisions are taken (under one mutex, with
// store.Batch.CommitNoSyncWait) and waited on for durability outside it, so group commit still
// groups concurrent callers while a crash can only lose a suffix of operations: the store
// always reopens consistent. Open also removes payloads without references and entries
// without a payload, should anything (a bug, a restored partial backup) have left them.
package msgstore
