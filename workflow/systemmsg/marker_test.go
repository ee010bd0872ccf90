package systemmsg_test

import (
	"strings"
	"testing"

	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/workflow"
	"github.com/correio-dev/correio/workflow/systemmsg"
)

// Every shipped message starts with the reply marker of its language, so a
// customer's answer to it is cut exactly (message.ExtractReply).
func TestMessagesCarryReplyMarker(t *testing.T) {
	s, err := systemmsg.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	vars := workflow.Vars{"Request": "7", "Title": "VPN", "Requester": "Ana", "Sender": "Desk", "Approver": "Bia"}
	for _, lang := range s.Languages() {
		for _, k := range systemmsg.Kinds() {
			r, err := s.Render(k, lang, vars)
			if err != nil {
				t.Fatal(err)
			}
			marker := message.ReplyMarkerFor(lang)
			if !strings.HasPrefix(r.Text, marker) || !strings.Contains(r.HTML, marker) {
				t.Fatalf("%s/%s: no marker %q", lang, k, marker)
			}
			quoted := "> " + strings.ReplaceAll(r.Text, "\n", "\n> ")
			reply := message.ExtractReply("Done, thanks.\n\nOn Tue, 3 Mar 2026, Desk <desk@example.com> wrote:\n" + quoted)
			if reply.Text != "Done, thanks." || reply.By != message.CutMarker {
				t.Errorf("%s/%s: reply %q by %s", lang, k, reply.Text, reply.By)
			}
			h := message.ExtractReplyHTML("<p>Done, thanks.</p><blockquote>" + r.HTML + "</blockquote>")
			if h.Text != "Done, thanks." {
				t.Errorf("%s/%s: HTML reply %q by %s", lang, k, h.Text, h.By)
			}
		}
	}
}
