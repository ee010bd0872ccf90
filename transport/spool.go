package transport

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultSpoolMemory is the size up to which a spooled message stays in
// memory when the transport sets no limit (1 MiB).
const DefaultSpoolMemory = 1 << 20

// SpoolPrefix starts the names of spool files (store/spool prunes the ones
// a killed process left behind).
const SpoolPrefix = "correio-spool-"

// Spool holds one fetched message as a source hands it to the engine: in
// memory up to the configured size, in a temporary file above it, so a
// large message is never whole in memory. It is an io.ReaderAt; Close
// releases it (and removes the file). Every source spools through
// NewSpool, which also hashes the message for its idempotency key.
type Spool struct {
	// ID is the Item.ID of the message (set by the source).
	ID string
	// SHA256 of the raw message, computed while it was spooled.
	SHA256 [32]byte

	size int64
	mem  []byte
	file *os.File
}

// ErrTruncated is returned when a message ended before its announced size
// (the connection broke in the middle of it).
var ErrTruncated = errors.New("transport: message truncated")

// NewSpool reads r into a spool (memory up to memLimit bytes, default
// DefaultSpoolMemory; a temporary file in dir above, default os.TempDir()).
// size is the announced size (an IMAP literal's, a Content-Length), or -1
// when unknown: a message that ends before its announced size is
// ErrTruncated, so a connection broken mid-fetch never yields a partial
// message.
func NewSpool(r io.Reader, size, memLimit int64, dir string) (*Spool, error) {
	if memLimit <= 0 {
		memLimit = DefaultSpoolMemory
	}
	h := sha256.New()
	sp := &Spool{}
	if size >= 0 && size <= memLimit {
		// The literal size is known: one exact allocation.
		buf := make([]byte, size)
		n, err := io.ReadFull(r, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, err
		}
		h.Write(buf[:n])
		sp.mem, sp.size = buf[:n], int64(n)
	} else {
		f, err := os.CreateTemp(dir, SpoolPrefix+"*")
		if err != nil {
			return nil, err
		}
		n, err := io.Copy(io.MultiWriter(f, h), r)
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			return nil, err
		}
		sp.file, sp.size = f, n
	}
	if size >= 0 && sp.size != size {
		_ = sp.Close()
		return nil, fmt.Errorf("%w: got %d of %d bytes", ErrTruncated, sp.size, size)
	}
	copy(sp.SHA256[:], h.Sum(nil))
	return sp, nil
}

// Size returns the message size in bytes.
func (s *Spool) Size() int64 { return s.size }

// InMemory reports whether the message is held in memory.
func (s *Spool) InMemory() bool { return s.file == nil }

// ReadAt implements io.ReaderAt.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	if s.file != nil {
		return s.file.ReadAt(p, off)
	}
	if s.mem == nil && s.size > 0 {
		return 0, errors.New("transport: spool closed")
	}
	if off >= int64(len(s.mem)) {
		return 0, io.EOF
	}
	n := copy(p, s.mem[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Reader returns a new reader over the whole message.
func (s *Spool) Reader() io.Reader { return io.NewSectionReader(s, 0, s.size) }

// Close releases the spool; a file spool is removed.
func (s *Spool) Close() error {
	s.mem = nil
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	if rerr := os.Remove(name); err == nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	s.file = nil
	return err
}
