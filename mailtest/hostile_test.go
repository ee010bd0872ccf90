package mailtest_test

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/correio-dev/correio/mailtest"
)

// TestHostileIMAPScript: the scripted server logs in, selects, lists its
// one message at the listed size, and streams at most StreamLimit bytes.
func TestHostileIMAPScript(t *testing.T) {
	h, err := mailtest.NewHostileIMAP(mailtest.HostileIMAPOptions{Fault: mailtest.OversizeBody, ListedSize: 1234, BodySize: 5000, StreamLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	read := func(want string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if strings.Contains(line, want) {
				return
			}
		}
	}
	read("* OK")
	c.Write([]byte("a LOGIN u p\r\nb SELECT INBOX\r\nc UID FETCH 1:* (UID RFC822.SIZE FLAGS)\r\n"))
	read("a OK")
	read("b OK")
	read("RFC822.SIZE 1234")
	read("c OK")
	c.Write([]byte("d UID FETCH 1 (UID BODY.PEEK[])\r\n"))
	read("BODY[] {5000}")
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := r.Read(buf)
		n += k
		if err != nil || n >= 1<<20 {
			break
		}
	}
	if h.BodyFetches() != 1 || h.Streamed() > 1<<20 || n < 1<<20-64<<10 {
		t.Fatalf("fetches %d streamed %d read %d", h.BodyFetches(), h.Streamed(), n)
	}
}
