package stats

import "os"

func osGetpid() int { return os.Getpid() }
