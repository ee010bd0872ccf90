package imap_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// selfSigned returns a server config for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestTLSAndSTARTTLS(t *testing.T) {
	srvCfg, pool := selfSigned(t)
	for _, sec := range []mailbox.Security{mailbox.SecurityTLS, mailbox.SecuritySTARTTLS} {
		t.Run(string(sec), func(t *testing.T) {
			srv := newServer(t, &mailtest.IMAPOptions{TLSConfig: srvCfg, ImplicitTLS: sec == mailbox.SecurityTLS})
			srv.Append("alice", "INBOX", msg(1))
			m := inbound(srv.Host(), srv.Port())
			m.Inbound.Server.Security = sec
			m.Inbound.Server.AllowPlaintext = false
			c := &imap.Config{Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}}
			r, err := imap.Probe(context.Background(), c, m)
			if err != nil || r.Messages != 1 {
				t.Fatalf("%+v %v", r, err)
			}
			// Without trusting the certificate: a TLS error, no login.
			_, err = imap.Probe(context.Background(), &imap.Config{Timeout: 5 * time.Second}, m)
			if !errors.Is(err, transport.ErrTLS) {
				t.Fatalf("untrusted certificate: %v", err)
			}
			if ok, _ := srv.Logins(); ok != 1 {
				t.Fatalf("logins %d", ok)
			}
		})
	}
	// A server without STARTTLS is refused when the mailbox asks for it.
	srv := newServer(t, nil)
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.Server.Security = mailbox.SecuritySTARTTLS
	if _, err := imap.Dial(context.Background(), cfg, m); !errors.Is(err, transport.ErrTLS) {
		t.Fatalf("no STARTTLS offered: %v", err)
	}
}
