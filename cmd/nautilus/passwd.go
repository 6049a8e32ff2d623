package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/nautilus-mq/nautilus/broker/plugins/passwd"
)

// passwdCommand is vmq-passwd / mosquitto_passwd: it edits the password file vmq_passwd reads.
func passwdCommand() *cli.Command {
	return &cli.Command{
		Name:      "passwd",
		Usage:     "manage the vmq_passwd password file (like vmq-passwd and mosquitto_passwd)",
		ArgsUsage: "FILE USERNAME | -U FILE",
		Description: `Adds or updates USERNAME in FILE, asking for the password twice on a terminal or
reading one line from standard input otherwise. New entries are bcrypt hashes
("username:$2b$10$..."), slow to crack if the file leaks; --hash sha512 writes VerneMQ's
one-round "username:$6$salt$hash" instead, for a file VerneMQ must still read. Existing
entries of either kind (and mosquitto's $7$) are kept as they are. The file is replaced
atomically with mode 0600 and a running node picks the change up at its next
vmq_passwd.password_reload_interval.

  nautilus passwd -c FILE USERNAME   create FILE (overwriting it) with one user
  nautilus passwd FILE USERNAME      add USERNAME or change its password
  nautilus passwd -D FILE USERNAME   delete USERNAME
  nautilus passwd -U FILE            hash a file of plaintext username:password lines in place`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "c", Usage: "create a new password file, overwriting an existing one"},
			&cli.BoolFlag{Name: "D", Usage: "delete USERNAME instead of setting its password"},
			&cli.BoolFlag{Name: "U", Usage: "convert a file of plaintext username:password lines to hashes"},
			&cli.StringFlag{Name: "hash", Value: "bcrypt", Usage: "how new entries are hashed: bcrypt, or sha512 (VerneMQ's $6$, which VerneMQ can read but is fast to crack)"},
			&cli.IntFlag{Name: "cost", Value: passwd.DefaultBcryptCost, Usage: "bcrypt cost: each step doubles the time of a check (10 is 50-100 ms)"},
		},
		Action: runPasswd,
	}
}

func runPasswd(c *cli.Context) error {
	create, del, update := c.Bool("c"), c.Bool("D"), c.Bool("U")
	if n := btoi(create) + btoi(del) + btoi(update); n > 1 {
		return errors.New("passwd: -c, -D and -U exclude each other")
	}
	scheme, err := hashScheme(c.String("hash"), c.Int("cost"))
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	args := c.Args().Slice()
	out, errOut := c.App.Writer, c.App.ErrWriter
	if update {
		if len(args) != 1 {
			return errors.New("usage: nautilus passwd -U FILE")
		}
		n, err := passwd.HashPlaintext(args[0], scheme)
		if err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		fmt.Fprintf(out, "hashed %d password(s) in %s\n", n, args[0])
		return nil
	}
	if len(args) != 2 {
		return errors.New("usage: nautilus passwd [-c | -D] FILE USERNAME")
	}
	file, user := args[0], args[1]
	if err := passwd.ValidUsername(user); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	if del {
		found, err := passwd.DeleteUser(file, user)
		if err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		if !found {
			fmt.Fprintf(errOut, "warning: user %s not found in %s\n", user, file)
		}
		return nil
	}
	if !create {
		// Fail before asking for a password that could not be stored.
		if _, err := os.Stat(file); err != nil {
			return fmt.Errorf("passwd: %w (use -c to create it)", err)
		}
	} else if _, err := os.Stat(file); err == nil {
		fmt.Fprintf(errOut, "%s exists and will be overwritten\n", file)
	}
	pw, err := readPassword(c.App.Reader, errOut)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	if err := passwd.SetPassword(file, user, pw, create, scheme); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	return nil
}

// hashScheme turns the --hash and --cost flags into how entries are written.
func hashScheme(name string, cost int) (passwd.Scheme, error) {
	switch name {
	case "bcrypt":
		// Checked here so that a bad cost fails before the password is asked for.
		s := passwd.Scheme{Cost: cost}
		if err := s.Validate(); err != nil {
			return passwd.Scheme{}, fmt.Errorf("--cost: %w", err)
		}
		return s, nil
	case "sha512":
		return passwd.Scheme{SHA512: true}, nil
	}
	return passwd.Scheme{}, fmt.Errorf("--hash %q: want bcrypt or sha512", name)
}

// readPassword asks twice, without echo, when in is a terminal, and reads one line otherwise.
func readPassword(in io.Reader, prompt io.Writer) ([]byte, error) {
	if in == nil {
		in = os.Stdin
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(prompt, "Password: ")
		pw1, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(prompt, "Reenter password: ")
		pw2, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		if string(pw1) != string(pw2) {
			return nil, errors.New("passwords do not match")
		}
		if len(pw1) == 0 {
			return nil, errors.New("empty password")
		}
		return pw1, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return nil, errors.New("empty password")
	}
	return []byte(pw), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
