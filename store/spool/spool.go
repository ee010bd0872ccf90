// Package spool prunes the spool files a crashed process left behind.
//
// The IMAP transport spools large messages to temporary files named
// correio-spool-* (in imap.Config.SpoolDir, default os.TempDir()) and
// removes each one when its message is done; a process killed in the middle
// of a fetch leaves its files behind. Run Prune at start, or periodically
// with a cutoff older than the longest hand-off, so only leftovers go.
package spool

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Prefix is the name prefix of the transport's spool files.
const Prefix = "correio-spool-"

// Prune removes the spool files in dir (os.TempDir() when empty) last
// modified before before, and returns how many it removed. Other files
// are never touched; a file that disappears meanwhile is not an error.
func Prune(dir string, before time.Time) (int, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), Prefix) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !info.ModTime().Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
