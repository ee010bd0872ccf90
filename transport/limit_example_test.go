package transport_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/correio-dev/correio/transport"
)

// A reply without end stops at the budget armed for the command, before
// the reader buffers more.
func ExampleBudgetConn() {
	client, server := net.Pipe()
	go func() {
		_, _ = server.Write([]byte("250 " + strings.Repeat("x", 1000))) // no line end
		_ = server.Close()
	}()
	c := transport.NewBudgetConn(client, "reply", 0)
	c.Arm(256) // before each command
	_, err := bufio.NewReader(c).ReadString('\n')
	var le *transport.LimitError
	fmt.Println(errors.Is(err, transport.ErrLimit), errors.As(err, &le) && le.Limit == 256)
	fmt.Println(err)
	// Output:
	// true true
	// the server sent a reply of 257 bytes, over the bound of 256 bytes
}
