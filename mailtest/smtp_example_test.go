package mailtest_test

import (
	"fmt"
	"net/smtp"

	"github.com/correio-dev/correio/mailtest"
)

func ExampleNewSMTPServer() {
	srv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{
		Faults: mailtest.SMTPFaults{Rcpt: map[string]mailtest.Reply{
			"gone@example.org": {Code: 550, Enhanced: "5.1.1", Message: "no such user"},
		}},
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	err = smtp.SendMail(srv.Addr(), nil, "desk@example.com", []string{"gone@example.org"}, []byte("Subject: hi\r\n\r\nhello\r\n"))
	fmt.Println(err)
	err = smtp.SendMail(srv.Addr(), nil, "desk@example.com", []string{"ana@example.org"}, []byte("Subject: hi\r\n\r\nhello\r\n"))
	fmt.Println(err, len(srv.Messages()), srv.Messages()[0].To)
	// Output:
	// 550 "5.1.1 no such user"
	// <nil> 1 [ana@example.org]
}
