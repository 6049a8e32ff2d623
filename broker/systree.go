package broker

import (
	"context"
	"strconv"
	"time"

	"github.com/nautilus-mq/nautilus/broker/message"
)

// publishSysTree publishes every metric under $SYS/<node>/ each interval, from the same
// registry that feeds /metrics, so the two never disagree.
func (b *Broker) publishSysTree(ctx context.Context, every time.Duration) {
	defer close(b.sysDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, s := range b.metrics.Snapshot() {
			b.reg.Publish(&message.Message{
				ID:      message.NextID(),
				Topic:   sysTopic(b.cfg.Node.Nodename, s.Name),
				Payload: []byte(strconv.FormatInt(s.Value, 10)),
				Arrived: now,
			})
		}
	}
}
