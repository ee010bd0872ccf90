package connect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailtest"
)

// ExampleFlow_AppOnlyCertificate gets app-only tokens for a shared mailbox
// with a certificate credential instead of a client secret. In production
// the certificate and key come from a PEM file or a key vault, and the
// certificate's public part is uploaded to the app registration.
func ExampleFlow_AppOnlyCertificate() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "desk app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)

	srv, _ := mailtest.NewOAuthServer(mailtest.OAuthOptions{})
	defer srv.Close()
	srv.AddClient(mailtest.OAuthClient{ID: "desk-app", Certificate: cert})

	f := &connect.Flow{Provider: connect.MicrosoftAt(srv.URL, srv.Tenant), ClientID: "desk-app"}
	app, err := f.AppOnlyCertificate(srv.Tenant, connect.Certificate{Cert: cert, Key: key})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := app.Token(context.Background())
	who, _, ok := srv.CheckAccessToken(tok.Reveal())
	fmt.Println(err, who, ok, srv.Stats().Assertions)
	// Output: <nil> app:desk-app true 1
}
