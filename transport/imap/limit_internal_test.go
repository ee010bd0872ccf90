package imap

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/correio-dev/correio/transport"
)

// chunkConn serves a fixed stream in reads of at most n bytes.
type chunkConn struct {
	net.Conn
	r io.Reader
	n int
}

func (c *chunkConn) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }
func (c *chunkConn) Close() error               { return nil }

func TestFramer(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // no line end inside
	for _, tc := range []struct {
		name   string
		stream string
		body   int64
		what   string // "" when the stream passes
		uid    UID
	}{
		{"plain lines", "* OK hi\r\na OK done\r\n", 0, "", 0},
		{"body literal without line ends inside", "* 1 FETCH (UID 3 BODY[] {204800}\r\n" + long + ")\r\na OK\r\n", 300 << 10, "", 0},
		{"body literal, SP before CRLF, LF only", "* 1 FETCH (UID 3 BODY[]<0> {204800} \n" + long + ")\r\n", 300 << 10, "", 0},
		{"body literal over the allowance", "* 1 FETCH (UID 9 BODY[] {204800}\r\n" + long, 100 << 10, "literal", 9},
		{"other literal over 64 KiB in a fetch", "* 1 FETCH (UID 4 ENVELOPE (\"d\" {204800}\r\n" + long, 1 << 30, "literal", 4},
		{"line over the bound", "* OK " + long, 1 << 30, "line", 0},
		{"a FETCH response going on after its body", "* 1 FETCH (UID 12 BODY[] {5}\r\nhello " + long, 1 << 30, "line", 12},
		{"quoted text is no literal", "* OK \"{5}\" x\r\n" + strings.Repeat("y", 100) + "\r\n", 0, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{3, 4096} {
				f := newFramer(&chunkConn{r: strings.NewReader(tc.stream), n: chunk}, 1<<10*64, DefaultMaxLiteral)
				f.allow(tc.body)
				_, err := io.Copy(io.Discard, f)
				uid, ferr := f.Err()
				var le *transport.LimitError
				switch {
				case tc.what == "" && err != nil:
					t.Fatalf("chunk %d: %v", chunk, err)
				case tc.what != "" && (!errors.As(ferr, &le) || le.What != tc.what || uid != tc.uid || !errors.Is(err, transport.ErrLimit)):
					t.Fatalf("chunk %d: err %v, framer %v uid %d; want %s uid %d", chunk, err, ferr, uid, tc.what, tc.uid)
				}
			}
		})
	}
}
