// Package telemetry holds the OpenTelemetry tracing the two engines share:
// the tracer from the host's TracerProvider (the OTel global one when none
// is given: the one intended exception to "no global state"), the
// attributes of a mail server, and how a span records a classified
// transport failure.
//
// Attributes follow the OpenTelemetry semantic conventions where they
// exist (server.address, server.port, error.type, url.scheme,
// network.operation, messaging.operation.name and .type,
// messaging.batch.message_count, messaging.message.body.size) and MailKit's
// telemetry (github.com/jstedfast/MailKit, Telemetry.md) for mail clients:
// url.scheme smtp/smtps/imap/imaps, network.operation, and the SMTP status
// code of a refusal. Addresses of people, subjects, message contents and
// secrets are never attributes.
package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Attribute keys of correio's own (no semantic convention covers them).
const (
	AttrMailbox      = attribute.Key("correio.mailbox.id")
	AttrTransport    = attribute.Key("correio.transport")
	AttrOutcome      = attribute.Key("correio.outcome")
	AttrRecipients   = attribute.Key("correio.recipients")
	AttrSMTPCode     = attribute.Key("correio.smtp.status_code")
	AttrSMTPEnhanced = attribute.Key("correio.smtp.enhanced_status_code")
	AttrMode         = attribute.Key("correio.mode")
)

// Semantic-convention keys used.
const (
	AttrServerAddress = attribute.Key("server.address")
	AttrServerPort    = attribute.Key("server.port")
	AttrErrorType     = attribute.Key("error.type")
	AttrURLScheme     = attribute.Key("url.scheme")
	AttrNetOperation  = attribute.Key("network.operation")
	AttrMsgOpName     = attribute.Key("messaging.operation.name")
	AttrMsgOpType     = attribute.Key("messaging.operation.type")
	AttrMsgBatchCount = attribute.Key("messaging.batch.message_count")
	AttrMsgBodySize   = attribute.Key("messaging.message.body.size")
)

// Tracer returns the named tracer of tp, or of the OTel global provider
// when tp is nil.
func Tracer(tp trace.TracerProvider, scope string) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(scope)
}

// Server returns the attributes of a mailbox's server: address, port, the
// transport kind and the URL scheme (with an "s" for implicit TLS).
func Server(m *mailbox.Mailbox) []attribute.KeyValue {
	var srv mailbox.Server
	switch {
	case m == nil:
		return nil
	case m.Inbound != nil:
		srv = m.Inbound.Server
	case m.Outbound != nil:
		srv = m.Outbound.Server
	}
	kind := string(m.Transport())
	attrs := []attribute.KeyValue{AttrMailbox.String(string(m.ID)), AttrTransport.String(kind)}
	if srv.Host != "" {
		attrs = append(attrs, AttrServerAddress.String(srv.Host))
	}
	if srv.Port != 0 {
		attrs = append(attrs, AttrServerPort.Int(srv.Port))
	}
	switch kind {
	case "imap", "smtp", "pop3":
		scheme := kind
		if srv.Security == mailbox.SecurityTLS {
			scheme += "s"
		}
		attrs = append(attrs, AttrURLScheme.String(scheme))
	}
	return attrs
}

// Fail records err on span: error.type is the transport error class
// (auth, tls, temporary, permanent, protocol, policy; "canceled" or
// "timeout" for a context that ended, "_OTHER" otherwise), with the operation and the SMTP status code when
// the transport gave them, and the span's status is Error with the
// class as description (never the server's text, which may quote a
// recipient).
func Fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	class := transport.ClassOf(err).String()
	var te *transport.Error
	if errors.As(err, &te) {
		if te.Op != "" {
			span.SetAttributes(AttrNetOperation.String(te.Op))
		}
		if te.Code != 0 {
			span.SetAttributes(AttrSMTPCode.Int(te.Code))
		}
		if te.Enhanced != "" {
			span.SetAttributes(AttrSMTPEnhanced.String(te.Enhanced))
		}
	} else {
		switch {
		case errors.Is(err, context.Canceled):
			class = "canceled"
		case errors.Is(err, context.DeadlineExceeded):
			class = "timeout"
		default:
			class = "_OTHER" // the semantic conventions' value for an unknown type
		}
	}
	span.SetAttributes(AttrErrorType.String(class))
	span.SetStatus(codes.Error, class)
}
