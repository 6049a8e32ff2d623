package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/nautilus-mq/nautilus/cmd/internal/buildinfo"
)

// newApp builds the command tree. Output goes to the given writers so tests can run the real
// CLI in-process and read what a user would see.
func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "nautilus",
		Usage:     "a distributed MQTT broker",
		Version:   buildinfo.Version,
		Writer:    stdout,
		ErrWriter: stderr,
		// The version command prints more than --version would, so keep one way to ask.
		HideVersion: true,
		Commands: []*cli.Command{
			versionCommand(),
			startCommand(),
			configCommand(),
			passwdCommand(),
			adminCommand(),
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, commit, Go version and linked metadata backend",
		Action: func(c *cli.Context) error {
			w := c.App.Writer
			fmt.Fprintf(w, "nautilus %s\n", buildinfo.Version)
			fmt.Fprintf(w, "commit:   %s\n", buildinfo.CommitID())
			fmt.Fprintf(w, "go:       %s\n", buildinfo.GoVersion())
			fmt.Fprintf(w, "metadata: %s\n", metadataBackend)
			return nil
		},
	}
}
