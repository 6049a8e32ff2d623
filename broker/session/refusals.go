package session

import (
	"log/slog"
	"sync"

	"github.com/nautilus-mq/nautilus/broker/logging/ratelog"
)

// refusalLogs are the log lines of refusals a client can repeat at will, at connection or
// packet rate: each is logged at once the first time and then summarised at most once per
// Env.LogInterval per cause (a reason code, an error kind), so that a flood of refused
// CONNECTs or a netsplit under publish load writes a line every few seconds instead of one per
// packet (726 ERROR lines in 11 s were seen). Every refusal is counted in the metrics as well.
type refusalLogs struct {
	connects  *ratelog.Group // per CONNACK reason code
	protocol  *ratelog.Group // connections closed for a protocol error, per reason code
	publishes *ratelog.Group // per error: not stored, not durable, cluster partitioned
}

// envLogs holds an Env's refusal logs, made on first use.
type envLogs struct {
	once sync.Once
	r    *refusalLogs
}

func (e *Env) refusals() *refusalLogs {
	e.logs.once.Do(func() {
		e.logs.r = &refusalLogs{
			connects:  ratelog.New(e.Log, slog.LevelInfo, e.LogInterval, "connections refused"),
			protocol:  ratelog.New(e.Log, slog.LevelInfo, e.LogInterval, "connections closed for a protocol error"),
			publishes: ratelog.New(e.Log, slog.LevelError, e.LogInterval, "publishes refused"),
		}
	})
	return e.logs.r
}
