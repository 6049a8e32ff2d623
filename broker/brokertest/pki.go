package brokertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throw-away certificate authority generated per test in a temporary directory (no
// private key is ever committed), with a server certificate for localhost and 127.0.0.1.
type PKI struct {
	dir        string
	CA         string // PEM file of the CA certificate
	ServerCert string
	ServerKey  string
	caCert     *x509.Certificate
	caKey      *ecdsa.PrivateKey
	serial     int64
}

// NewPKI makes a CA named after name, and its server certificate.
func NewPKI(t testing.TB, name string) *PKI {
	t.Helper()
	p := &PKI{dir: t.TempDir(), serial: 1}
	key := genKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.CA = p.Write(t, "ca.pem", "CERTIFICATE", der)
	p.ServerCert, p.ServerKey, _ = p.Issue(t, "server", "localhost", func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.DNSNames = []string{"localhost"}
	})
	return p
}

func genKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Write stores one PEM block in the PKI directory and returns its path.
func (p *PKI) Write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Issue signs a certificate for cn (files named after file) and returns its paths and serial.
func (p *PKI) Issue(t testing.TB, file, cn string, edit func(*x509.Certificate)) (certPath, keyPath string, serial *big.Int) {
	t.Helper()
	p.serial++
	key := genKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.Write(t, file+".pem", "CERTIFICATE", der), p.Write(t, file+".key", "EC PRIVATE KEY", kder), tmpl.SerialNumber
}

// Client issues a client certificate with the given CN.
func (p *PKI) Client(t testing.TB, cn string) (certPath, keyPath string) {
	c, k, _ := p.Issue(t, "client-"+cn, cn, nil)
	return c, k
}

// CRL writes a revocation list of the CA revoking serials.
func (p *PKI) CRL(t testing.TB, serials ...*big.Int) string {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.caCert, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return p.Write(t, "crl.pem", "X509 CRL", der)
}
