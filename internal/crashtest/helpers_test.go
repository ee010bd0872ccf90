package crashtest

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"testing"
)

// crashMessage is message i of a run, to the address to: its Message-ID
// is <prefix i@crash.example> (see countKeys).
func crashMessage(to, prefix string, i int) []byte {
	return fmt.Appendf(nil, "From: c@example.com\r\nTo: %s\r\nSubject: %s %d\r\nMessage-ID: <%s%d@crash.example>\r\n\r\nbody %d\r\n", to, prefix, i, prefix, i, i)
}

// countKeys fills r's Lost, OtherTwice and InWindow from the (key,
// Message-ID) pairs the host recorded, for the n messages of crashMessage
// with prefix: a message never recorded is lost; one recorded under two
// keys, or a Message-ID not sent, counts as another twice; each repeat
// under the same key counts in the window.
func countKeys(r *result, pairs [][2]string, prefix string, n int) {
	keysOf := map[string]map[string]int{} // Message-ID -> key -> count
	for _, p := range pairs {
		if keysOf[p[1]] == nil {
			keysOf[p[1]] = map[string]int{}
		}
		keysOf[p[1]][p[0]]++
	}
	for i := range n {
		ks := keysOf[fmt.Sprintf("%s%d@crash.example", prefix, i)]
		if len(ks) == 0 {
			r.Lost++
		}
		if len(ks) > 1 {
			r.OtherTwice++ // the same message under two keys
		}
		for _, c := range ks {
			r.InWindow += c - 1
		}
	}
	if len(keysOf) != n {
		r.OtherTwice += len(keysOf) - n
	}
}

// writeCA writes cert to path as PEM, for a child to trust (readCA).
func writeCA(t *testing.T, path string, cert *x509.Certificate) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readCA returns a pool of the certificates of the PEM file path.
func readCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no certificate in " + path)
	}
	return pool, nil
}
