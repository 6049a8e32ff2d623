package swc

import (
	"github.com/nautilus-mq/nautilus/store"
	"github.com/nautilus-mq/nautilus/store/fault"
)

func faultCrashAt(n int) store.Injector { return fault.CrashAt(store.OpWrite, n) }
