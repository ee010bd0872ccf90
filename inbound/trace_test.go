package inbound_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
)

func spansNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attrOf(s sdktrace.ReadOnlySpan, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// noPeople fails when an attribute of any span holds a person's address,
// a subject or a password.
func noPeople(t *testing.T, rec *tracetest.SpanRecorder, secrets ...string) {
	t.Helper()
	for _, s := range rec.Ended() {
		for _, kv := range s.Attributes() {
			v := kv.Value.String()
			for _, bad := range append([]string{"@example.com", "Problem ", "customer"}, secrets...) {
				if strings.Contains(v, bad) {
					t.Errorf("span %s attribute %s = %q holds %q", s.Name(), kv.Key, v, bad)
				}
			}
		}
	}
}

// The Poller's spans: a session (server address, port, scheme, transport),
// a fetch per batch (its message count), a hand-off per message whose span
// is the parent of the host's own; no person's address or subject.
func TestTraces(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	for i := range 3 {
		srv.Append("desk", "INBOX", rawMsg("desk", i))
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	handler := newRecorder()
	var parents []trace.SpanID
	handler.hook = func(d *inbound.Delivery) error { return nil }
	o := fastOptions(memory.NewInboundStore(), inbound.HandlerFunc(func(ctx context.Context, d *inbound.Delivery) error {
		handler.mu.Lock()
		parents = append(parents, trace.SpanContextFromContext(ctx).SpanID())
		handler.mu.Unlock()
		return handler.HandleMessage(ctx, d)
	}))
	o.TracerProvider = tp
	m := mb("desk", "desk", srv.Host(), srv.Port())
	start(t, o, m)
	eventually(t, "3 handed", func() bool { return handler.count("desk") == 3 })
	eventually(t, "3 hand-off spans and a session", func() bool {
		return len(spansNamed(rec, "correio.inbound.handoff")) == 3 && len(spansNamed(rec, "correio.inbound.session")) >= 1
	})
	sess := spansNamed(rec, "correio.inbound.session")[0]
	for k, want := range map[attribute.Key]string{"server.address": srv.Host(), "url.scheme": "imap", "correio.transport": "imap", "correio.mailbox.id": "desk"} {
		if v, ok := attrOf(sess, k); !ok || v.AsString() != want {
			t.Errorf("session %s = %v, want %s", k, v.String(), want)
		}
	}
	if v, ok := attrOf(sess, "server.port"); !ok || v.AsInt64() != int64(srv.Port()) {
		t.Errorf("session server.port = %v", v.String())
	}
	fetches := spansNamed(rec, "correio.inbound.fetch")
	if len(fetches) != 1 {
		t.Fatalf("fetch spans: %d", len(fetches))
	}
	if v, _ := attrOf(fetches[0], "messaging.batch.message_count"); v.AsInt64() != 3 {
		t.Errorf("batch count %v", v.String())
	}
	ids := map[trace.SpanID]bool{}
	for _, s := range spansNamed(rec, "correio.inbound.handoff") {
		ids[s.SpanContext().SpanID()] = true
		if v, _ := attrOf(s, "correio.outcome"); v.AsString() != "handled" {
			t.Errorf("hand-off outcome %v", v.String())
		}
		if s.Parent().TraceID() != sess.SpanContext().TraceID() {
			t.Error("hand-off outside the session's trace")
		}
	}
	handler.mu.Lock()
	for _, p := range parents {
		if !ids[p] {
			t.Errorf("the handler's context does not carry its hand-off span")
		}
	}
	handler.mu.Unlock()
	noPeople(t, rec, "pw-desk")
}

// A refused login ends the session span with error.type auth and an
// error status, and the password is nowhere.
func TestTraceAuthFailure(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	o.TracerProvider = tp
	m := mb("desk", "desk", srv.Host(), srv.Port())
	m.Inbound.Credentials.Password = mailbox.NewSecret("hunter2-wrong")
	start(t, o, m)
	eventually(t, "a failed session span", func() bool { return len(spansNamed(rec, "correio.inbound.session")) >= 1 })
	s := spansNamed(rec, "correio.inbound.session")[0]
	if v, _ := attrOf(s, "error.type"); v.AsString() != "auth" || s.Status().Code != codes.Error {
		t.Fatalf("error.type %v status %v", v.String(), s.Status())
	}
	noPeople(t, rec, "hunter2")
}
