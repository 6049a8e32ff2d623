// Command nautilus is the Nautilus MQTT broker: one binary that starts a node, inspects and
// checks its configuration, and administers a running cluster.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "nautilus:", err)
		os.Exit(1)
	}
}
