package cluster

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// MinSecretLen is the shortest cluster secret accepted. Whoever holds a certificate a member
// sent can test guesses of the secret offline, so a short one (VerneMQ's default cookie
// "vmq_secret" among them) is refused rather than trusted.
const MinSecretLen = 16

// secretSalt and secretRounds stretch the secret once at start: a guess costs an attacker
// the same, which turns a merely decent passphrase into a costly target. 200,000 rounds of
// PBKDF2-SHA256 take about 50 ms, paid once per node start.
const (
	secretSalt   = "nautilus cluster secret v1"
	secretRounds = 200_000
)

// clusterKeys are what a node derives from the cluster secret: the gossip key (serf's
// keyring, AES-256-GCM) and the certificate authority that signs every member's link
// certificate. A node that lacks the secret can neither read nor write gossip, nor complete
// a link handshake.
type clusterKeys struct {
	gossip []byte
	caKey  ed25519.PrivateKey
	ca     *x509.Certificate
	roots  *x509.CertPool
}

func deriveKeys(secret []byte) (*clusterKeys, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("cluster: the cluster secret is %d bytes; at least %d are needed (try: openssl rand -base64 32)", len(secret), MinSecretLen)
	}
	master, err := pbkdf2.Key(sha256.New, string(secret), []byte(secretSalt), secretRounds, 32)
	if err != nil {
		return nil, fmt.Errorf("cluster: stretch secret: %w", err)
	}
	sub := func(info string, n int) ([]byte, error) {
		return hkdf.Expand(sha256.New, master, info, n)
	}
	k := &clusterKeys{}
	if k.gossip, err = sub("nautilus gossip key", 32); err != nil {
		return nil, fmt.Errorf("cluster: derive gossip key: %w", err)
	}
	seed, err := sub("nautilus link ca", ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("cluster: derive link ca: %w", err)
	}
	k.caKey = ed25519.NewKeyFromSeed(seed)
	// Every node builds the same authority from the secret; the certificate itself never
	// travels, only leaf certificates it signed.
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nautilus cluster authority"},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.caKey.Public(), k.caKey)
	if err != nil {
		return nil, fmt.Errorf("cluster: build link ca: %w", err)
	}
	if k.ca, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("cluster: parse link ca: %w", err)
	}
	k.roots = x509.NewCertPool()
	k.roots.AddCert(k.ca)
	return k, nil
}

// linkCert issues this node's link certificate: a fresh key each start, its node name as the
// subject, signed by the secret's authority. The name in it is what binds a link to a member:
// the handshake refuses a peer whose hello names another node than its certificate.
func (k *clusterKeys) linkCert(name string) (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cluster: link key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cluster: link certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-24 * time.Hour), // peers' clocks may lag
		NotAfter:     now.Add(100 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.ca, pub, k.caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cluster: issue link certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// errNotMember is a peer that could not prove it holds the cluster secret.
var errNotMember = errors.New("peer holds no certificate of this cluster's secret")

// verifyMember checks that a TLS peer's certificate was issued from the cluster secret, and,
// when name is not empty, that it names that node. It returns the node the certificate names.
func (k *clusterKeys) verifyMember(cs tls.ConnectionState, name string) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errNotMember
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: k.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return "", fmt.Errorf("%w: %v", errNotMember, err)
	}
	if name != "" && leaf.Subject.CommonName != name {
		return "", fmt.Errorf("peer's certificate names %q, not %q", leaf.Subject.CommonName, name)
	}
	return leaf.Subject.CommonName, nil
}

// secretTLS returns the TLS configurations of links authenticated by the secret: TLS 1.3,
// both ends present a certificate of the secret's authority, and the dialler checks that the
// acceptor's names the node it meant to reach (want, set per dial by clientTLS).
func (k *clusterKeys) secretTLS(cert tls.Certificate) (server, client *tls.Config) {
	server = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := k.verifyMember(cs, "")
			return err
		},
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The chain and name are checked by VerifyConnection against the secret's authority,
		// not against the system roots and a host name.
		InsecureSkipVerify: true,
	}
	return server, client
}

// derived caches the keys of each secret a process used: stretching costs tens of
// milliseconds, and tests start many nodes with one secret.
var derived sync.Map // [sha256.Size]byte of the secret → *clusterKeys

func keysFor(secret []byte) (*clusterKeys, error) {
	id := sha256.Sum256(secret)
	if k, ok := derived.Load(id); ok {
		return k.(*clusterKeys), nil
	}
	k, err := deriveKeys(secret)
	if err != nil {
		return nil, err
	}
	derived.Store(id, k)
	return k, nil
}
