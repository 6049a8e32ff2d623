package swc_test

import "github.com/nautilus-mq/nautilus/broker/metadata/sim"

func dump(c sim.Core) string {
	if d, ok := c.(interface{ Dump() string }); ok {
		return d.Dump()
	}
	return ""
}
