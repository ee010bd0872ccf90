package mailtest_test

import (
	"fmt"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/correio-dev/correio/mailtest"
)

// An IMAP server for a test, with a fault proxy in front of it.
func ExampleNewIMAPServer() {
	srv, _ := mailtest.NewIMAPServer(nil)
	defer srv.Close()
	srv.AddUser("alice", "pw")
	srv.Append("alice", "INBOX", []byte("Subject: hi\r\n\r\nhello\r\n"))

	px, _ := mailtest.NewProxy(srv.Addr)
	defer px.Close()

	c, _ := imapclient.DialInsecure(px.Addr, nil)
	c.Login("alice", "pw").Wait()
	sel, _ := c.Select("INBOX", nil).Wait()
	fmt.Println("messages:", sel.NumMessages)

	px.SetMode(mailtest.Reset) // the server resets every connection
	fmt.Println("noop failed:", c.Noop().Wait() != nil)
	// Output:
	// messages: 1
	// noop failed: true
}
