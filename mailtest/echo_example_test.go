package mailtest_test

import (
	"fmt"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/correio-dev/correio/mailtest"
)

// A server that refuses logins and quotes the credentials back, to check
// that a host's logs and records never show them.
func ExampleIMAPServer_SetLoginEcho() {
	srv, _ := mailtest.NewIMAPServer(nil)
	defer srv.Close()
	srv.AddUser("alice", "pw-1")
	srv.SetLoginEcho(true)

	c, _ := imapclient.DialInsecure(srv.Addr, nil)
	defer c.Close()
	fmt.Println(c.Login("alice", "pw-1").Wait())
	// Output: imap: NO [AUTHENTICATIONFAILED] Authentication failed: LOGIN alice pw-1 (cHctMQ==)
}
