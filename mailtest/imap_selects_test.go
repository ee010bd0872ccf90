package mailtest_test

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/correio-dev/correio/mailtest"
)

// TestIMAPSelectStats: two connections with one user's INBOX selected at
// once are an overlap; selecting it again after the first connection left
// (logout, or another folder) is not.
func TestIMAPSelectStats(t *testing.T) {
	s, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AddUser("bob", "pw")
	s.AddUser("eve", "pw")
	if err := s.CreateFolder("bob", "Archive"); err != nil {
		t.Fatal(err)
	}
	dial := func(user string) *imapclient.Client {
		c, err := imapclient.DialInsecure(s.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Login(user, "pw").Wait(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	sel := func(c *imapclient.Client, folder string) {
		if _, err := c.Select(folder, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	a, b, e := dial("bob"), dial("bob"), dial("eve")
	sel(a, "INBOX")
	sel(e, "INBOX") // another user's INBOX: no overlap
	if st := s.SelectStats(); st.Overlaps != 0 || st.Selects != 2 || s.Selected("bob", "inbox") != 1 {
		t.Fatalf("one selection each: %+v", st)
	}
	sel(b, "Archive")
	sel(b, "INBOX")
	st := s.SelectStats()
	if st.Overlaps != 1 || st.MaxConcurrent != 2 || st.Users["bob"] != 1 || s.Selected("bob", "INBOX") != 2 {
		t.Fatalf("two connections on bob's INBOX: %+v", st)
	}
	sel(b, "Archive") // b leaves INBOX
	if err := a.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	// The server closes a's session after the logout's reply.
	deadline := time.Now().Add(10 * time.Second)
	for s.Selected("bob", "INBOX") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("INBOX still selected by %d connections after the logout", s.Selected("bob", "INBOX"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.ResetSelectStats()
	c := dial("bob")
	sel(c, "INBOX")
	if st := s.SelectStats(); st.Overlaps != 0 || st.Selects != 1 || st.MaxConcurrent != 1 {
		t.Fatalf("after the first connection left: %+v", st)
	}
}
