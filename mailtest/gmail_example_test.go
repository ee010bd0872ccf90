package mailtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/correio-dev/correio/mailtest"
)

// A Gmail API server with one mailbox: a delivered message shows up in
// users.history.list after the historyId the profile had before.
func ExampleNewGmailServer() {
	srv := mailtest.NewGmailServer()
	defer srv.Close()
	srv.AddUser("desk@example.com")
	srv.AddToken("test-token", "desk@example.com")
	start := srv.HistoryID("desk@example.com")
	srv.Deliver("desk@example.com", []byte("Subject: hello\r\n\r\nhi\r\n"))

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/gmail/v1/users/me/history?historyTypes=messageAdded&startHistoryId="+strconv.FormatUint(start, 10), nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := srv.Client().Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var page struct {
		History []struct {
			MessagesAdded []struct {
				Message struct{ LabelIDs []string }
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&page)
	fmt.Println(resp.StatusCode, len(page.History), page.History[0].MessagesAdded[0].Message.LabelIDs)
	// Output: 200 1 [INBOX UNREAD]
}
