package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/nautilus-mq/nautilus/broker/config"
)

// configFlag is the --config flag of every command that reads the configuration, so they all
// find the file the same way: the flag, else $NAUTILUS_CONFIG, else ./nautilus.conf if present,
// else the built-in defaults (config.Load decides the last two).
func configFlag() cli.Flag {
	return &cli.StringFlag{
		Name:      "config",
		Usage:     "configuration `FILE` (default: ./nautilus.conf if present, else built-in defaults)",
		EnvVars:   []string{"NAUTILUS_CONFIG"},
		TakesFile: true,
	}
}

// loadConfig loads the configuration for a command. On configuration errors it prints each
// one on its own line to the error writer, so the operator sees them all at once, and returns
// a one-line summary for main to report.
func loadConfig(c *cli.Context) (*config.Config, error) {
	cfg, err := config.Load(c.String("config"), os.Environ())
	var problems config.Errors
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(c.App.ErrWriter, p)
		}
		noun := "problems"
		if len(problems) == 1 {
			noun = "problem"
		}
		return nil, fmt.Errorf("configuration has %d %s", len(problems), noun)
	}
	return cfg, err
}

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "check or show the node's configuration",
		Subcommands: []*cli.Command{
			{
				Name:  "check",
				Usage: "parse and validate the configuration; print every problem",
				Flags: []cli.Flag{configFlag()},
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "configuration OK (%s)\n", describe(cfg))
					return nil
				},
			},
			{
				Name:  "show",
				Usage: "print every key's effective value and where it came from",
				Flags: []cli.Flag{
					configFlag(),
					&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
				},
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						enc := json.NewEncoder(c.App.Writer)
						enc.SetIndent("", "  ")
						return enc.Encode(cfg.Settings())
					}
					return showTable(c.App.Writer, cfg)
				},
			},
		},
	}
}

func describe(cfg *config.Config) string {
	if cfg.File == "" {
		return "built-in defaults"
	}
	return cfg.File
}

func showTable(w io.Writer, cfg *config.Config) error {
	fmt.Fprintf(w, "# configuration: %s\n", describe(cfg))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE\tDESCRIPTION")
	for _, s := range cfg.Settings() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Value, s.From, s.Doc)
	}
	return tw.Flush()
}
