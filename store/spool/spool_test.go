package spool_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/store/spool"
	"github.com/correio-dev/correio/transport/imap"
)

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	write := func(name string, mod time.Time) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	write("correio-spool-old", now.Add(-2*time.Hour))
	write("correio-spool-new", now)
	write("other-old", now.Add(-2*time.Hour))
	if err := os.Mkdir(filepath.Join(dir, "correio-spool-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := spool.Prune(dir, now.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("removed %d: %v", n, err)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != "[correio-spool-dir correio-spool-new other-old]" {
		t.Fatalf("left %v", names)
	}
	if _, err := spool.Prune(filepath.Join(dir, "missing"), now); err == nil {
		t.Fatal("missing directory accepted")
	}
}

// Remove the spool files a killed process left, at start.
func ExamplePrune() {
	dir, _ := os.MkdirTemp("", "spool-example")
	defer os.RemoveAll(dir)
	old := filepath.Join(dir, spool.Prefix+"123")
	_ = os.WriteFile(old, []byte("half a message"), 0o600)
	_ = os.Chtimes(old, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))

	n, err := spool.Prune(dir, time.Now().Add(-10*time.Minute))
	fmt.Println(n, err)
	// Output:
	// 1 <nil>
}

// TestPrefixMatchesTransport: the files transport/imap spools to are the
// ones Prune recognises (a leftover of a killed process is one that was
// never closed).
func TestPrefixMatchesTransport(t *testing.T) {
	dir := t.TempDir()
	sp, err := imap.NewSpool(strings.NewReader(strings.Repeat("x", 4096)), 4096, 16, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.InMemory() {
		t.Fatal("not spooled to a file")
	}
	n, err := spool.Prune(dir, time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("transport spool file not recognised: %d %v", n, err)
	}
}
