package threading_test

import (
	"context"
	"errors"
	"testing"

	"github.com/correio-dev/correio/threading"
)

// index is a SentIndex over two maps; err, when set, fails every lookup.
type index struct {
	byID, byThread map[string]threading.Ref
	err            error
	lookups        int
}

func (x *index) SentByMessageID(_ context.Context, id string) (threading.Ref, bool, error) {
	x.lookups++
	r, ok := x.byID[id]
	return r, ok, x.err
}

func (x *index) SentByThread(_ context.Context, th string) (threading.Ref, bool, error) {
	x.lookups++
	r, ok := x.byThread[th]
	return r, ok, x.err
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	a := threading.Ref{MessageID: "a@desk.example", Mailbox: "out", Contract: "acme", Thread: "1"}
	b := threading.Ref{MessageID: "b@desk.example", Mailbox: "out", Contract: "acme", Thread: "2"}
	c := threading.Ref{MessageID: "c@desk.example", Mailbox: "out", Contract: "globex", Thread: "3"}
	x := &index{byID: map[string]threading.Ref{a.MessageID: a, b.MessageID: b}, byThread: map[string]threading.Ref{"3": c}}
	cases := []struct {
		name        string
		irt, refs   []string
		subject     string
		by, msgID   string
		thread      string
		wantNoMatch bool
	}{
		{name: "in-reply-to wins over references and token", irt: []string{"b@desk.example"}, refs: []string{"a@desk.example"},
			subject: "Re: x [#REQ-3]", by: threading.ByInReplyTo, msgID: b.MessageID},
		{name: "unknown in-reply-to falls to references, newest first", irt: []string{"other@x"}, refs: []string{"a@desk.example", "b@desk.example"},
			by: threading.ByReferences, msgID: b.MessageID},
		{name: "token looked up in the index", subject: "Re: Re: printer [#REQ-3]", by: threading.ByToken, msgID: c.MessageID, thread: "3"},
		{name: "last token wins", subject: "Fw: [#REQ-9] about [#REQ-3]", by: threading.ByToken, msgID: c.MessageID, thread: "3"},
		{name: "token of nothing sent still names the thread", subject: "Re: [#req-77]", by: threading.ByToken, thread: "77"},
		{name: "nothing matches", irt: []string{"other@x"}, subject: "Hello", wantNoMatch: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := threading.Find(ctx, x, nil, tc.irt, tc.refs, tc.subject)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNoMatch {
				if m != nil {
					t.Fatalf("match %+v, want none", m)
				}
				return
			}
			if m == nil || m.By != tc.by || m.Ref.MessageID != tc.msgID || (tc.thread != "" && m.Ref.Thread != tc.thread) {
				t.Fatalf("match %+v, want by %s message %q thread %q", m, tc.by, tc.msgID, tc.thread)
			}
		})
	}

	t.Run("no index: the token alone", func(t *testing.T) {
		m, err := threading.Find(ctx, nil, nil, []string{"a@desk.example"}, nil, "Re: [#REQ-5]")
		if err != nil || m == nil || m.By != threading.ByToken || m.Ref.Thread != "5" || m.Ref.MessageID != "" {
			t.Fatalf("%+v %v", m, err)
		}
	})
	t.Run("custom token format", func(t *testing.T) {
		tok := threading.TokenFormat{Open: "{", Prefix: "CHAMADO ", Close: "}"}.MustCompile()
		m, err := threading.Find(ctx, nil, tok, nil, nil, "Re: {CHAMADO 12} [#REQ-5]")
		if err != nil || m == nil || m.Ref.Thread != "12" {
			t.Fatalf("%+v %v", m, err)
		}
	})
	t.Run("index errors are returned", func(t *testing.T) {
		boom := errors.New("database down")
		e := &index{err: boom}
		if _, err := threading.Find(ctx, e, nil, []string{"a@x"}, nil, ""); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if _, err := threading.Find(ctx, e, nil, nil, nil, "[#REQ-1]"); !errors.Is(err, boom) {
			t.Fatalf("token lookup err = %v", err)
		}
	})
}
