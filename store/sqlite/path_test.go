package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/correio-dev/correio/store/sqlite"
)

// TestOddPath: a path with characters that mean something in a URI (the
// driver takes a file: URI) opens the file at that very path.
func TestOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir #1 ?x=%20")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "c db.sqlite")
	s, err := sqlite.Open(context.Background(), p, sqlite.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(p); err != nil {
		ents, _ := os.ReadDir(dir)
		t.Fatalf("file not at %s: %v; dir has %v", p, err, ents)
	}
}
