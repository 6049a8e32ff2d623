package listener

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TLSConfig is a TLS listener's certificate material and client-certificate policy, in
// VerneMQ's terms (listener.ssl.<name>.certfile and so on).
type TLSConfig struct {
	CertFile  string
	KeyFile   string
	KeyPasswd string // for a legacy encrypted PEM key (Proc-Type: 4,ENCRYPTED)
	CAFile    string // CAs trusted for client certificates
	CRLFile   string // PEM or DER revocation lists checked against client certificates
	// Ciphers is a colon-separated list of TLS 1.2 suites, Go names (TLS_ECDHE_RSA_WITH_…)
	// or OpenSSL names (ECDHE-RSA-AES128-GCM-SHA256); empty = Go's defaults. TLS 1.3 suites
	// cannot be chosen in Go and are accepted and ignored.
	Ciphers    string
	MinVersion uint16 // tls.VersionTLS12 (default) or tls.VersionTLS13
	// RequireCertificate refuses clients without a certificate valid under CAFile; without it,
	// a certificate a client offers is still verified when CAFile is set.
	RequireCertificate bool
	// UseIdentityAsUsername makes the certificate's CN the client's username.
	UseIdentityAsUsername bool
	// Depth is the number of intermediate certificates allowed between a client certificate
	// and a CA of CAFile.
	Depth int
	// ReloadInterval is how often the files are checked for changes (modification time and
	// size); 0 means DefaultTLSReloadInterval, negative never.
	ReloadInterval time.Duration
}

// DefaultTLSReloadInterval is how often a TLS listener looks for changed certificate files.
var DefaultTLSReloadInterval = 10 * time.Second

// tlsMaterial is one loaded generation of certificates, swapped whole on reload.
type tlsMaterial struct {
	cfg    *tls.Config
	crls   []*x509.RevocationList
	stamps string // modification times and sizes of the files it was loaded from
}

// tlsState serves the current material to every new handshake.
type tlsState struct {
	conf TLSConfig
	log  *slog.Logger
	cur  atomic.Pointer[tlsMaterial]
	base *tls.Config
	mu   sync.Mutex // one reload at a time
}

func newTLSState(conf TLSConfig, log *slog.Logger) (*tlsState, error) {
	s := &tlsState{conf: conf, log: log}
	s.base = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return s.cur.Load().cfg, nil
	}}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *tlsState) files() []string {
	return []string{s.conf.CertFile, s.conf.KeyFile, s.conf.CAFile, s.conf.CRLFile}
}

// fileStamps fingerprints the files by modification time and size.
func (s *tlsState) fileStamps() string {
	var b strings.Builder
	for _, f := range s.files() {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
		} else {
			fmt.Fprintf(&b, "%s:missing;", f)
		}
	}
	return b.String()
}

// reload reads every file again; on any error the material in use stays.
func (s *tlsState) reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamps := s.fileStamps()
	m, err := loadTLS(s.conf)
	if err != nil {
		return err
	}
	m.stamps = stamps
	s.cur.Store(m)
	return nil
}

// reloadIfChanged reloads when a file's modification time or size changed.
func (s *tlsState) reloadIfChanged() (bool, error) {
	if s.fileStamps() == s.cur.Load().stamps {
		return false, nil
	}
	return true, s.reload()
}

// watch polls the files until stop is closed.
func (s *tlsState) watch(stop <-chan struct{}) {
	every := s.conf.ReloadInterval
	if every == 0 {
		every = DefaultTLSReloadInterval
	}
	if every < 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			changed, err := s.reloadIfChanged()
			switch {
			case err != nil:
				s.log.Error("certificate files changed but cannot be loaded; keeping the previous ones", "error", err)
			case changed:
				s.log.Info("certificates reloaded")
			}
		}
	}
}

func loadTLS(c TLSConfig) (*tlsMaterial, error) {
	cert, err := loadKeyPair(c.CertFile, c.KeyFile, c.KeyPasswd)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   max(c.MinVersion, tls.VersionTLS12),
		NextProtos:   []string{"mqtt", "http/1.1"},
	}
	if cfg.CipherSuites, err = parseCiphers(c.Ciphers); err != nil {
		return nil, err
	}
	m := &tlsMaterial{cfg: cfg}
	if c.CAFile != "" {
		pemBytes, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cafile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("cafile %s: no PEM certificate found", c.CAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if c.RequireCertificate {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		if c.CRLFile != "" {
			if m.crls, err = loadCRLs(c.CRLFile, pemBytes); err != nil {
				return nil, err
			}
		}
	} else if c.RequireCertificate {
		return nil, errors.New("require_certificate needs cafile")
	}
	depth := c.Depth
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.VerifiedChains) == 0 {
			return nil
		}
		for _, chain := range cs.VerifiedChains {
			// chain = leaf, intermediates…, root
			if len(chain)-2 <= depth && !revoked(chain, m.crls) {
				return nil
			}
		}
		if revoked(cs.VerifiedChains[0], m.crls) {
			return errors.New("client certificate revoked")
		}
		return fmt.Errorf("client certificate chain longer than depth %d", depth)
	}
	return m, nil
}

// PeerTLS is the mutual TLS of cluster peer links (listener.vmqs.<name>): the node's
// certificate serves both ends of a link, and CAFile verifies the peer's on either side, so a
// link needs a certificate the cluster's CA signed. The files are read once, at start; peer
// links pick up a new certificate when the node restarts.
func PeerTLS(c TLSConfig) (*tls.Config, error) {
	if c.CAFile == "" {
		return nil, errors.New("peer links need cafile to verify the other nodes' certificates")
	}
	c.RequireCertificate = true
	m, err := loadTLS(c)
	if err != nil {
		return nil, err
	}
	cfg := m.cfg
	cfg.NextProtos = nil
	cfg.RootCAs = cfg.ClientCAs
	return cfg, nil
}

// loadKeyPair reads the certificate and key, decrypting a legacy encrypted PEM key with passwd.
// PKCS#8 encrypted keys ("ENCRYPTED PRIVATE KEY") are not supported by Go's standard library.
func loadKeyPair(certFile, keyFile, passwd string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certfile: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("keyfile: %w", err)
	}
	if block, _ := pem.Decode(keyPEM); block != nil {
		//lint:ignore SA1019 legacy PEM encryption is what keypasswd is for (VerneMQ's keyfile with a password)
		encrypted := x509.IsEncryptedPEMBlock(block)
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY":
			return tls.Certificate{}, fmt.Errorf("keyfile %s: encrypted PKCS#8 keys are not supported; decrypt it (openssl pkey) or use legacy PEM encryption", keyFile)
		case encrypted && passwd == "":
			return tls.Certificate{}, fmt.Errorf("keyfile %s is encrypted: set keypasswd", keyFile)
		case encrypted:
			//lint:ignore SA1019 see above
			der, err := x509.DecryptPEMBlock(block, []byte(passwd))
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("keyfile %s: %w", keyFile, err)
			}
			keyPEM = pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der})
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certfile/keyfile: %w", err)
	}
	return cert, nil
}

// loadCRLs reads every revocation list in file (PEM blocks, or one DER list) and checks each
// is signed by a CA of cafile, so a forged list cannot be slipped in.
func loadCRLs(file string, caPEM []byte) ([]*x509.RevocationList, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("crlfile: %w", err)
	}
	var ders [][]byte
	for rest := raw; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "X509 CRL" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) == 0 && !bytes.Contains(raw, []byte("-----BEGIN")) {
		ders = [][]byte{raw}
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("crlfile %s: no X509 CRL found", file)
	}
	var cas []*x509.Certificate
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			cas = append(cas, c)
		}
	}
	var out []*x509.RevocationList
	for _, der := range ders {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("crlfile %s: %w", file, err)
		}
		signed := false
		for _, ca := range cas {
			if bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return nil, fmt.Errorf("crlfile %s: list issued by %s is not signed by a CA of cafile", file, crl.Issuer)
		}
		out = append(out, crl)
	}
	return out, nil
}

// revoked reports whether a certificate of the chain (the root aside) is on a list of its issuer.
func revoked(chain []*x509.Certificate, crls []*x509.RevocationList) bool {
	for _, c := range chain[:max(len(chain)-1, 1)] {
		for _, crl := range crls {
			if !bytes.Equal(crl.RawIssuer, c.RawIssuer) {
				continue
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
					return true
				}
			}
		}
	}
	return false
}

// openSSLCiphers maps the OpenSSL names VerneMQ configurations use to Go's suites.
var openSSLCiphers = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// parseCiphers reads the ciphers option. Suites Go considers insecure are refused.
func parseCiphers(s string) ([]uint16, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	byName := map[string]uint16{}
	for _, cs := range tls.CipherSuites() {
		byName[cs.Name] = cs.ID
	}
	var out []uint16
	for name := range strings.SplitSeq(s, ":") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if strings.HasPrefix(name, "TLS_AES_") || strings.HasPrefix(name, "TLS_CHACHA20_") {
			continue // TLS 1.3 suites are not configurable in Go
		}
		id, ok := byName[name]
		if !ok {
			id, ok = openSSLCiphers[name]
		}
		if !ok {
			return nil, fmt.Errorf("ciphers: unknown or insecure cipher suite %q", name)
		}
		out = append(out, id)
	}
	return out, nil
}

// serverTLS runs the TLS handshake on nc before the deadline and returns the connection with
// the certificate identity when the listener uses it.
func (s *tlsState) serverTLS(nc net.Conn, deadline time.Time) (net.Conn, error) {
	remote, username := identity(nc)
	tc := tls.Server(nc, s.base)
	tc.SetDeadline(deadline)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	if s.conf.UseIdentityAsUsername {
		username = ""
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			username = certs[0].Subject.CommonName
		}
		if username == "" {
			return nil, errors.New("use_identity_as_username: the client certificate has no CN")
		}
	}
	return &Conn{Conn: tc, remote: remote, username: username}, nil
}
