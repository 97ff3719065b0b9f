package testutil

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert is a certificate and key written as PEM files by MustCert.
type Cert struct {
	CertFile, KeyFile string
	Leaf              *x509.Certificate
	// Pool holds the certificate itself, as the root a client trusts it by.
	Pool *x509.CertPool
}

// MustCert writes a self-signed certificate, valid for a day for the given DNS names and
// 127.0.0.1, and its key into dir as prefix.crt and prefix.key (replacing them by rename,
// as a renewal tool would). The serial is random, so each call's certificate differs.
func MustCert(tb testing.TB, dir, prefix string, names ...string) Cert {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "rumd test " + serial.String()},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	c := Cert{CertFile: filepath.Join(dir, prefix+".crt"), KeyFile: filepath.Join(dir, prefix+".key"), Leaf: leaf, Pool: x509.NewCertPool()}
	c.Pool.AddCert(leaf)
	MustWriteAtomic(tb, c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	MustWriteAtomic(tb, c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return c
}

// MustWriteAtomic replaces path with data by writing a temporary file beside it and renaming
// it over path, so a reader sees the old content or the new, never half.
func MustWriteAtomic(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// ServedSerial dials addr over TLS asking for name, without checking the certificate, and
// returns the serial number of the certificate the server showed.
func ServedSerial(tb testing.TB, addr, name string) string {
	tb.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: name})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// KeptConn is one HTTPS keep-alive connection, to show that requests on a connection opened
// before a certificate reload still succeed after it.
type KeptConn struct {
	tb   testing.TB
	name string
	c    *tls.Conn
	br   *bufio.Reader
}

// MustKeepConn opens a TLS connection to addr for name, trusting roots; every request on it
// must finish within a minute of opening it. It is closed when the test ends.
func MustKeepConn(tb testing.TB, addr, name string, roots *x509.CertPool) *KeptConn {
	tb.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: name})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(time.Minute))
	return &KeptConn{tb: tb, name: name, c: c, br: bufio.NewReader(c)}
}

// MustGet sends GET path on the connection and returns the status.
func (k *KeptConn) MustGet(path string) int {
	k.tb.Helper()
	if _, err := io.WriteString(k.c, "GET "+path+" HTTP/1.1\r\nHost: "+k.name+"\r\n\r\n"); err != nil {
		k.tb.Fatalf("GET %s on the kept connection: %v", path, err)
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		k.tb.Fatalf("GET %s on the kept connection: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
