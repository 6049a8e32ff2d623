package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nautilus-mq/nautilus/broker/admin"
	"github.com/nautilus-mq/nautilus/cmd/internal/buildinfo"
)

// The admin API reports the binary's version stamp.
func init() { admin.Version = buildinfo.Version }

// adminCommand is `nautilus admin`: it talks to a running node's admin HTTP API, found either
// in the node's configuration file (first listener.http, admin.api_key or the generated key
// under platform_data_dir) or given with --url and --api-key. docs/admin.md describes it.
func adminCommand() *cli.Command {
	return &cli.Command{
		Name:  "admin",
		Usage: "administer a running node through its admin HTTP API (listener.http)",
		Description: "The node is found through its configuration file (--config, $NAUTILUS_CONFIG or ./nautilus.conf):\n" +
			"its first listener.http.<name> and its API key (admin.api_key, or the key the node generated in\n" +
			"<platform_data_dir>/admin_api_key). --url and --api-key name another node.",
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "url", Usage: "base `URL` of the node's admin API, e.g. http://10.0.0.1:8888 (instead of the config file's listener.http)"},
			&cli.StringFlag{Name: "api-key", Usage: "API `KEY` (instead of the config file's)", EnvVars: []string{"NAUTILUS_API_KEY"}},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up on the node after this long"},
		},
		Subcommands: []*cli.Command{
			{
				Name:  "cluster",
				Usage: "show, join or leave the cluster",
				Subcommands: []*cli.Command{
					{
						Name:  "show",
						Usage: "list the cluster's members and their status",
						Flags: []cli.Flag{jsonFlag()},
						Action: func(c *cli.Context) error {
							return withClient(c, func(ctx context.Context, cl *admin.Client) error {
								info, err := cl.Cluster(ctx)
								if err != nil {
									return err
								}
								if c.Bool("json") {
									return printJSON(c.App.Writer, info)
								}
								printCluster(c.App.Writer, info)
								return nil
							})
						},
					},
					{
						Name:      "join",
						Usage:     "make the node join the cluster of the member at a gossip address",
						ArgsUsage: "<gossip-address>",
						Action: func(c *cli.Context) error {
							if c.NArg() != 1 {
								return errors.New("cluster join takes one argument: the gossip address host:port of a cluster member (its cluster.gossip, by default its listener.vmq port + 1)")
							}
							return withClient(c, func(ctx context.Context, cl *admin.Client) error {
								info, err := cl.Join(ctx, c.Args().First())
								if err != nil {
									return err
								}
								fmt.Fprintf(c.App.Writer, "%s joined the cluster at %s\n\n", info.Node, c.Args().First())
								printCluster(c.App.Writer, info)
								return nil
							})
						},
					},
					{
						Name:      "leave",
						Usage:     "make the node leave the cluster, or remove a member that is down",
						ArgsUsage: "<node>",
						Description: "With the node's own name (or none), the node leaves the cluster gracefully: it stops its MQTT listeners,\n" +
							"disconnects its clients (MQTT 5: 0x9C Use another server) and hands every persistent session, with its\n" +
							"queued and in-flight messages, to the other members before it leaves; stop it afterwards.\n" +
							"With the name of another member that is down (failed), that member is removed from the cluster.\n" +
							"A live member leaves by itself: run the command against its own admin API.",
						Flags: []cli.Flag{&cli.BoolFlag{Name: "kill-sessions", Aliases: []string{"k"},
							Usage: "end the leaving node's sessions and drop their messages instead of handing them to the other members"}},
						Action: func(c *cli.Context) error {
							// The flag may also follow the node name (VerneMQ's order).
							kill := c.Bool("kill-sessions")
							var args []string
							for _, a := range c.Args().Slice() {
								if a == "--kill-sessions" || a == "-k" {
									kill = true
								} else {
									args = append(args, a)
								}
							}
							if len(args) > 1 {
								return errors.New("cluster leave takes at most one argument: the node name")
							}
							node := ""
							if len(args) == 1 {
								node = args[0]
							}
							return withClient(c, func(ctx context.Context, cl *admin.Client) error {
								res, err := cl.Leave(ctx, node, kill)
								if err != nil {
									return err
								}
								switch res.Action {
								case "left":
									fmt.Fprintf(c.App.Writer, "%s left the cluster (sessions handed to other members: %d, ended: %d); stop it now (it cannot rejoin until restarted)\n",
										res.Node, res.SessionsMoved, res.SessionsEnded)
								case "removed":
									fmt.Fprintf(c.App.Writer, "%s was down and is removed from the cluster\n", res.Node)
								default:
									fmt.Fprintf(c.App.Writer, "%s: %s\n", res.Node, res.Action)
								}
								if res.Note != "" {
									fmt.Fprintf(c.App.Writer, "note: %s\n", res.Note)
								}
								return nil
							})
						},
					},
				},
			},
			{
				Name:  "listener",
				Usage: "act on the node's MQTT listeners",
				Subcommands: []*cli.Command{
					{
						Name:      "reload",
						Usage:     "read the certificate files of the TLS listeners (ssl, wss) again, without a restart",
						ArgsUsage: "[<listener>]",
						Description: "Reloads every TLS listener, or the one named (listener.ssl.default or ssl.default). New handshakes use\n" +
							"the new certificates; established connections keep theirs. A listener whose files do not load keeps\n" +
							"its previous certificates, and the command fails saying why.",
						Flags: []cli.Flag{jsonFlag()},
						Action: func(c *cli.Context) error {
							if c.NArg() > 1 {
								return errors.New("listener reload takes at most one argument: the listener's name, e.g. listener.ssl.default")
							}
							return withClient(c, func(ctx context.Context, cl *admin.Client) error {
								res, err := cl.ReloadListeners(ctx, c.Args().First())
								if c.Bool("json") && res.Node != "" {
									if perr := printJSON(c.App.Writer, res); perr != nil {
										return perr
									}
								} else {
									printReload(c.App.Writer, res)
								}
								return err
							})
						},
					},
				},
			},
			{
				Name:  "status",
				Usage: "print the node's status: version, uptime, connections, sessions, subscriptions, retained messages",
				Flags: []cli.Flag{jsonFlag()},
				Action: func(c *cli.Context) error {
					return withClient(c, func(ctx context.Context, cl *admin.Client) error {
						st, err := cl.Status(ctx)
						if err != nil {
							return err
						}
						if c.Bool("json") {
							return printJSON(c.App.Writer, st)
						}
						printStatus(c.App.Writer, st)
						return nil
					})
				},
			},
			{
				Name:  "metrics",
				Usage: "print the node's metrics in the Prometheus text format (what /metrics serves)",
				Action: func(c *cli.Context) error {
					return withClient(c, func(ctx context.Context, cl *admin.Client) error {
						text, err := cl.Metrics(ctx)
						if err != nil {
							return err
						}
						_, err = io.WriteString(c.App.Writer, text)
						return err
					})
				},
			},
		},
	}
}

func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print the API's JSON"} }

// withClient resolves the node's API address and key and runs fn with a client bounded by
// --timeout.
func withClient(c *cli.Context, fn func(context.Context, *admin.Client) error) error {
	cl, err := adminClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	err = fn(ctx, cl)
	if errors.Is(err, admin.ErrUnauthorized) {
		return fmt.Errorf("%w\n(the key comes from --api-key, $NAUTILUS_API_KEY, the config file's admin.api_key, or the node's generated key file)", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer from %s within %v: %w", cl.URL, c.Duration("timeout"), err)
	}
	return err
}

// adminClient finds the API: --url, else the config file's first listener.http; the key:
// --api-key, else the config file's admin.api_key, else the node's generated key file.
func adminClient(c *cli.Context) (*admin.Client, error) {
	cl := &admin.Client{URL: c.String("url"), Key: c.String("api-key")}
	if cl.URL != "" && cl.Key != "" {
		return cl, nil
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	if cl.URL == "" {
		if cl.URL, err = admin.URLFromConfig(cfg); err != nil {
			return nil, err
		}
	}
	if cl.Key == "" {
		if cl.Key, err = admin.ReadKey(cfg); err != nil {
			return nil, fmt.Errorf("%w; or pass --api-key", err)
		}
	}
	return cl, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printCluster(w io.Writer, info admin.Cluster) {
	if !info.Clustered {
		fmt.Fprintf(w, "%s is not clustered (no listener.vmq); metadata backend: %s\n", info.Node, info.Backend)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tGOSSIP\tLINK\tLINK UP")
	for _, m := range info.Members {
		name, up := m.Node, "no"
		if m.Self {
			name, up = m.Node+" (this node)", "-"
		} else if m.LinkUp {
			up = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, m.Status, m.Gossip, m.Link, up)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "metadata backend: %s\n", info.Backend)
}

func printStatus(w io.Writer, st admin.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	members := "not clustered"
	if st.Clustered {
		members = fmt.Sprintf("%d live member", st.ClusterMembers)
		if st.ClusterMembers != 1 {
			members += "s"
		}
	}
	for _, row := range [][2]string{
		{"node", st.Node},
		{"version", st.Version},
		{"metadata backend", st.Backend},
		{"uptime", (time.Duration(st.UptimeSeconds) * time.Second).String()},
		{"cluster", members},
		{"connections", fmt.Sprint(st.Connections)},
		{"sessions", fmt.Sprint(st.Sessions)},
		{"subscriptions", fmt.Sprint(st.Subscriptions)},
		{"retained messages", fmt.Sprint(st.Retained)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	_ = tw.Flush()
	for _, l := range st.Listeners {
		fmt.Fprintf(w, "%s: %s %s, %d connections\n", l.Name, l.Kind, l.Address, l.Connections)
	}
}

func printReload(w io.Writer, res admin.ReloadResult) {
	if res.Node != "" && len(res.Listeners) == 0 {
		fmt.Fprintf(w, "%s has no TLS listener (ssl, wss): nothing to reload\n", res.Node)
	}
	for _, l := range res.Listeners {
		if l.Reloaded {
			fmt.Fprintf(w, "%s (%s): certificates reloaded\n", l.Name, l.Kind)
		} else {
			fmt.Fprintf(w, "%s (%s): NOT reloaded, keeps its previous certificates: %s\n", l.Name, l.Kind, l.Error)
		}
	}
}
