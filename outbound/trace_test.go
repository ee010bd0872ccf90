package outbound_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/transport/smtp"
)

func ended(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// The Sender's spans: a session per batch connection (server, scheme,
// batch size) with a send span per message (recipient count, never the
// addresses); a refused login is error.type auth with the SMTP code.
func TestTraces(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Users: map[string]string{"u": "right"}})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	mb := outboundBox("mb1", srv)
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("right")}
	h := newHarness(t, outbound.Options{TracerProvider: tp}, smtp.Options{}, mb)
	msg := simple("mb1", "ana@customer.example", "rui@customer.example")
	msg.Subject = "Secret subject"
	h.enqueue(msg)
	h.next(outbound.EventDelivered)
	eventually(t, "session span", func() bool { return len(ended(rec, "correio.outbound.session")) == 1 })
	sess := ended(rec, "correio.outbound.session")[0]
	if attr(sess, "server.address").AsString() != srv.Host() || attr(sess, "server.port").AsInt64() != int64(srv.Port()) ||
		attr(sess, "url.scheme").AsString() != "smtp" || attr(sess, "messaging.batch.message_count").AsInt64() != 1 {
		t.Fatalf("session attributes %v", sess.Attributes())
	}
	sends := ended(rec, "correio.outbound.send")
	if len(sends) != 1 || attr(sends[0], "correio.recipients").AsInt64() != 2 || sends[0].Parent().SpanID() != sess.SpanContext().SpanID() {
		t.Fatalf("send spans %v", sends)
	}

	// A refused login.
	bad := mb.Clone()
	bad.ID = "mb2"
	bad.Outbound.Credentials.Password = mailbox.NewSecret("hunter2-wrong")
	if err := h.cat.PutMailbox(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	h.enqueue(simple("mb2", "ana@customer.example"))
	h.next(outbound.EventHealth)
	eventually(t, "failed session span", func() bool { return len(ended(rec, "correio.outbound.session")) == 2 })
	fail := ended(rec, "correio.outbound.session")[1]
	if attr(fail, "error.type").AsString() != "auth" || attr(fail, "correio.smtp.status_code").AsInt64() != 535 || fail.Status().Code != codes.Error {
		t.Fatalf("failed session %v %v", fail.Attributes(), fail.Status())
	}
	for _, s := range rec.Ended() {
		for _, kv := range s.Attributes() {
			for _, bad := range []string{"customer.example", "Secret subject", "hunter2", "right"} {
				if v := kv.Value.String(); strings.Contains(v, bad) && kv.Key != "correio.mailbox.id" {
					t.Errorf("span %s %s = %q holds %q", s.Name(), kv.Key, v, bad)
				}
			}
		}
	}
}
