package imap

import (
	"io"
	"strconv"

	"github.com/correio-dev/correio/transport"
)

// Spool is one fetched message (transport.Spool); its ID is the UID in
// decimal.
type Spool = transport.Spool

// ErrTruncated is transport.ErrTruncated: a message ended before its
// announced size.
var ErrTruncated = transport.ErrTruncated

// NewSpool is transport.NewSpool.
func NewSpool(r io.Reader, size, memLimit int64, dir string) (*Spool, error) {
	return transport.NewSpool(r, size, memLimit, dir)
}

// SpoolUID returns the UID of a spool this package fetched (0 for another).
func SpoolUID(sp *Spool) UID {
	n, err := strconv.ParseUint(sp.ID, 10, 32)
	if err != nil {
		return 0
	}
	return UID(n)
}

func uidString(u UID) string { return strconv.FormatUint(uint64(u), 10) }
