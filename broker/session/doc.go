// Package session runs the MQTT protocol for one client connection and keeps the session state
// that outlives it.
//
// A Conn has a reader goroutine and, while it has something to send, a writer goroutine. The
// reader decodes packets and handles them in order: it answers CONNECT, routes PUBLISH through
// the Router, updates subscriptions, and records acknowledgements. The writer is started by
// Wake (the queues' callback, or the reader's) and exits when nothing is left to send, so an
// idle connection keeps no writer goroutine. It owns the socket's write side: it drains control packets the reader queued (acks,
// SUBACK, PINGRESP, DISCONNECT), takes deliveries from the session's queue within the inflight
// window, encodes everything into one buffer and writes it with one syscall, so a busy
// connection pays one write for many packets. The writer takes deliveries before it drains the
// control packets of the same round: a SUBACK queued before its retained messages is therefore
// always written first.
//
// A State outlives connections: its queue keeps receiving while the client is offline, and the
// unacknowledged QoS 1/2 messages in both directions are resumed by the next connection
// [MQTT-4.4.0-1]. The Table maps subscriber ids to states and settles takeovers.
package session
