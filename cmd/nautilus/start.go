package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nautilus-mq/nautilus/broker"
	"github.com/nautilus-mq/nautilus/broker/config"
	"github.com/nautilus-mq/nautilus/broker/logging"
	"github.com/nautilus-mq/nautilus/cmd/internal/buildinfo"
)

func startCommand() *cli.Command {
	return &cli.Command{
		Name:  "start",
		Usage: "run a node in the foreground until SIGINT or SIGTERM",
		Flags: []cli.Flag{
			configFlag(),
			&cli.BoolFlag{Name: "allow-anonymous", Usage: "accept clients without credentials (overrides allow_anonymous; for the quick start)"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if c.Bool("allow-anonymous") {
				cfg.Auth.AllowAnonymous = true
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if f := os.Getenv("NAUTILUS_CPUPROFILE"); f != "" {
				// A developer's aid (docs/building.md): a CPU profile of the whole run, written
				// when the node stops, to read with go tool pprof.
				stopProfile, err := startCPUProfile(f)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			return runNode(ctx, cfg, c.App.ErrWriter)
		},
	}
}

// runNode starts a broker and blocks until ctx ends, then shuts it down gracefully.
func runNode(ctx context.Context, cfg *config.Config, console io.Writer) error {
	logger, closer, err := newLogger(cfg, console)
	if err != nil {
		return err
	}
	defer closer.Close()
	log := logger.Logger
	plugins, err := loadPlugins(ctx, cfg, log)
	if err != nil {
		return err
	}
	b, err := broker.New(cfg, broker.Options{Log: log, Plugins: plugins, Backend: backend()})
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return err
	}
	log.Info("nautilus started", "version", buildinfo.Version, "node", cfg.Node.Nodename, "metadata", metadataBackend, "data_dir", cfg.Node.PlatformDataDir)
	if cfg.Auth.AllowAnonymous {
		log.Warn("anonymous access is ON: any client may connect without credentials")
	}
	<-ctx.Done()
	log.Info("shutting down", "timeout", cfg.Node.GracefulShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Node.GracefulShutdownTimeout)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func newLogger(cfg *config.Config, console io.Writer) (*logging.Logger, io.Closer, error) {
	lc := &cfg.Log
	level := func(l config.LogLevel) slog.Level {
		lv, err := logging.ParseLevel(string(l))
		if err != nil {
			return slog.LevelInfo
		}
		return lv
	}
	opts := logging.Options{
		Console: logging.ConsoleOptions{Enabled: lc.Console == config.ConsoleOn, Level: level(lc.ConsoleLevel), Format: string(lc.ConsoleFormat), Writer: console},
		File: logging.FileOptions{Path: lc.File, Level: level(lc.FileLevel), Format: string(lc.FileFormat),
			MaxSizeMB: max(1, int(int64(lc.FileMaxSize)/(1<<20))), MaxBackups: lc.FileMaxBackups, MaxAgeDays: int(lc.FileMaxAge / (24 * time.Hour))},
		Syslog: logging.SyslogOptions{Enabled: lc.Syslog, Level: level(lc.SyslogLevel), Address: lc.SyslogAddress, Facility: lc.SyslogFacility, Tag: "nautilus"},
	}
	l, closer, err := logging.New(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("logging: %w", err)
	}
	return l, closer, nil
}

// startCPUProfile writes a CPU profile to path until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("NAUTILUS_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("NAUTILUS_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
