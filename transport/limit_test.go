package transport_test

import (
	"errors"
	"io"
	"net"
	"testing"

	"github.com/correio-dev/correio/transport"
)

// TestBudgetConnArm: each Arm gives a fresh budget; a read past it fails
// with a *LimitError and the connection stays failed; <=0 is unbounded.
func TestBudgetConnArm(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		for range 3 {
			if _, err := server.Write(make([]byte, 100)); err != nil {
				return
			}
		}
		_, _ = server.Write(make([]byte, 300))
		_ = server.Close()
	}()
	c := transport.NewBudgetConn(client, "reply", 0)
	buf := make([]byte, 100)
	if _, err := io.ReadFull(c, buf); err != nil { // unbounded
		t.Fatal(err)
	}
	for range 2 { // exactly the budget, twice
		c.Arm(100)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Arm(200)
	_, err := io.ReadAll(c)
	var le *transport.LimitError
	if !errors.As(err, &le) || le.Limit != 200 || le.Got != 201 || !errors.Is(c.Err(), transport.ErrLimit) {
		t.Fatalf("err %v, conn err %v", err, c.Err())
	}
	if _, err := c.Read(buf); !errors.Is(err, transport.ErrLimit) {
		t.Fatalf("read after the limit: %v", err)
	}
}
