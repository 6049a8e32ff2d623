package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Validate checks what a single key cannot: ranges, listener addresses and their clashes, and
// keys that only make sense together. It works on any Config, also one built in Go, and
// returns every problem as Errors, each pointing at the key's source when it is known.
func (c *Config) Validate() error {
	var errs errorList
	root := reflect.ValueOf(c).Elem()
	for _, f := range schema().keys {
		if err := f.checkRange(root.FieldByIndex(f.index)); err != nil {
			errs.add(c.Source(f.Key), f.Key, "%v", err)
		}
	}
	c.validateListeners(&errs)

	if name, host, ok := strings.Cut(c.Node.Nodename, "@"); !ok || name == "" || host == "" {
		errs.add(c.Source("nodename"), "nodename", "expected name@host, got %q", c.Node.Nodename)
	}
	if c.Node.PlatformDataDir == "" {
		errs.add(c.Source("platform_data_dir"), "platform_data_dir", "must not be empty")
	}
	if c.Auth.PluginVmqPasswd && c.Auth.PasswordFile == "" {
		errs.add(c.Source("vmq_passwd.password_file"), "vmq_passwd.password_file", "must be set while plugins.vmq_passwd is on")
	}
	if c.Auth.PluginVmqACL && c.Auth.ACLFile == "" {
		errs.add(c.Source("vmq_acl.acl_file"), "vmq_acl.acl_file", "must be set while plugins.vmq_acl is on")
	}
	if a := c.Log.SyslogAddress; a != "" && !validSyslogAddress(a) {
		errs.add(c.Source("log.syslog.address"), "log.syslog.address", "expected udp://host:port, tcp://host:port, unix:///path or host:port (UDP), or empty for the local syslog, got %q", a)
	}
	if !validFacility(c.Log.SyslogFacility) {
		errs.add(c.Source("log.syslog.facility"), "log.syslog.facility", "expected one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0 … local7, got %q", c.Log.SyslogFacility)
	}
	return errs.err()
}

// validSyslogAddress accepts the forms broker/logging dials.
func validSyslogAddress(a string) bool {
	scheme, rest, ok := strings.Cut(a, "://")
	switch {
	case !ok:
		_, _, err := net.SplitHostPort(a)
		return err == nil
	case scheme == "udp" || scheme == "tcp":
		host, port, err := net.SplitHostPort(rest)
		return err == nil && host != "" && port != ""
	case scheme == "unix" || scheme == "unixgram":
		return strings.HasPrefix(rest, "/")
	}
	return false
}

func validFacility(f string) bool {
	switch f {
	case "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp":
		return true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(f, "local"))
	return strings.HasPrefix(f, "local") && err == nil && n >= 0 && n <= 7
}

func (c *Config) validateListeners(errs *errorList) {
	type bound struct {
		key  string
		host string
	}
	byPort := map[string][]bound{}
	for _, ln := range c.Listeners {
		key := ln.Key()
		src := c.Source(key)
		if !slices.Contains(ln.Type.Values(), string(ln.Type)) {
			errs.add(src, key, "unknown listener type %q", ln.Type)
			continue
		}
		if ln.Name == "" || !validKey(ln.Name) || strings.Contains(ln.Name, ".") {
			errs.add(src, key, "listener name %q must be lower-case letters, digits, _ or -", ln.Name)
		}
		if ln.Type == ListenerUnix {
			// The address is the socket's path; two unix listeners may not share one.
			if strings.TrimSpace(ln.Address) == "" {
				errs.add(src, key, "expected the path of a unix socket, got %q", ln.Address)
			}
			for _, other := range byPort["unix:"+ln.Address] {
				errs.add(src, key, "socket %s is also used by %s (%s)", ln.Address, other.key, c.Source(other.key))
			}
			byPort["unix:"+ln.Address] = append(byPort["unix:"+ln.Address], bound{key, ""})
			c.validateListenerOptions(ln, errs)
			continue
		}
		host, port, err := net.SplitHostPort(ln.Address)
		if err == nil {
			if p, perr := strconv.Atoi(port); perr != nil || p < 0 || p > 65535 {
				err = strconv.ErrRange
			}
		}
		if err != nil {
			errs.add(src, key, "expected an address host:port (e.g. 127.0.0.1:1883, [::1]:1883, :1883), got %q", ln.Address)
		} else if port != "0" { // port 0 asks the OS for a free port, so it never clashes
			for _, other := range byPort[port] {
				if other.host == host || wildcard(host) || wildcard(other.host) {
					errs.add(src, key, "address %s clashes with %s (%s)", ln.Address, other.key, c.Source(other.key))
					break
				}
			}
			byPort[port] = append(byPort[port], bound{key, host})
		}
		c.validateListenerOptions(ln, errs)
	}
}

func (c *Config) validateListenerOptions(ln Listener, errs *errorList) {
	key := ln.Key()
	opts := reflect.ValueOf(&ln.ListenerOptions).Elem()
	for _, f := range schema().options {
		if !f.appliesTo(ln.Type) {
			continue
		}
		k := key + "." + f.Key
		if err := f.checkRange(opts.FieldByIndex(f.index[len(f.index)-1:])); err != nil {
			errs.add(c.Source(k), k, "%v", err)
		}
	}
	if ln.Type.TLS() || ln.Type == ListenerVMQS {
		c.validateTLS(ln, errs)
	}
	if ln.Type == ListenerVMQS && ln.CAFile == "" {
		errs.add(c.Source(key), key, "vmqs listeners need cafile: peer links are mutual TLS, each node verifies the other's certificate (set %s.cafile or listener.vmqs.cafile)", key)
	}
	if ln.Type.WebSocket() {
		if !strings.HasPrefix(ln.WebSocketPath, "/") {
			k := key + ".path"
			errs.add(c.Source(k), k, "expected an absolute HTTP path such as /mqtt, got %q", ln.WebSocketPath)
		}
		if _, err := ParseTrustedProxies(ln.ProxyXFFTrusted); err != nil {
			k := key + ".proxy_xff_trusted_intermediate"
			errs.add(c.Source(k), k, "%v", err)
		}
	}
}

// ParseTrustedProxies reads proxy_xff_trusted_intermediate: comma-separated IP addresses or
// CIDR prefixes.
func ParseTrustedProxies(raw string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("expected comma-separated IP addresses or CIDRs (10.0.0.0/8), got %q", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (c *Config) validateTLS(ln Listener, errs *errorList) {
	key := ln.Key()
	for _, req := range []struct{ opt, val string }{{"certfile", ln.CertFile}, {"keyfile", ln.KeyFile}} {
		if req.val == "" {
			errs.add(c.Source(key), key, "%s listeners need %s (set %s.%s or listener.%s.%s)", ln.Type, req.opt, key, req.opt, ln.Type, req.opt)
		}
	}
	for _, file := range []struct{ opt, path string }{
		{"cafile", ln.CAFile}, {"certfile", ln.CertFile}, {"keyfile", ln.KeyFile}, {"crlfile", ln.CRLFile},
	} {
		if file.path == "" {
			continue
		}
		if _, err := os.Stat(file.path); err != nil {
			k := key + "." + file.opt
			errs.add(c.Source(k), k, "cannot use %s: %v", file.path, unwrapPath(err))
		}
	}
	if ln.RequireCertificate && ln.CAFile == "" {
		k := key + ".require_certificate"
		errs.add(c.Source(k), k, "needs cafile to verify client certificates against")
	}
	if ln.UseIdentityAsUsername && !ln.RequireCertificate {
		k := key + ".use_identity_as_username"
		errs.add(c.Source(k), k, "needs require_certificate = on, or clients without a certificate would have no username")
	}
}

// unwrapPath drops the path from an *os.PathError, which the message already names.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func wildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}
