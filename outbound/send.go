package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/correio-dev/correio/internal/telemetry"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
)

// sendOne sends r over conn and stores the outcome. It returns whether
// the connection broke (the batch stops).
func (s *Sender) sendOne(ctx context.Context, conn transport.Outgoing, mb *mailbox.Mailbox, st *boxState, r *store.OutboxRecord, token string) (broken bool) {
	msg, err := build(r, mb)
	if err != nil {
		s.kill(r, token, "the message cannot be built: "+err.Error(), err)
		return false
	}
	var to []string
	for _, rc := range r.Pending() {
		to = append(to, rc.Address.Address)
	}
	sctx, span := s.tracer.Start(ctx, "correio.outbound.send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(telemetry.AttrMailbox.String(string(mb.ID)), telemetry.AttrMsgOpName.String("send"),
			telemetry.AttrMsgOpType.String("send"), telemetry.AttrRecipients.Int(len(to))))
	res, err := conn.Send(sctx, transport.Envelope{From: mb.Outbound.From.Address, To: to}, msg)
	telemetry.Fail(span, err)
	if err == nil && len(res.Rejected) > 0 {
		span.SetAttributes(telemetry.AttrOutcome.String("partial"))
	}
	span.End()
	broken = errors.Is(err, transport.ErrBroken)
	if err != nil && ctx.Err() != nil {
		s.release(r, token) // interrupted by Stop: may be resent, same Message-ID
		return broken
	}
	r.Attempts++
	now := s.clk.Now()
	rejected := map[string]*transport.Error{}
	for i := range res.Rejected {
		if res.Rejected[i].Err == nil { // a transport that gave no reason
			res.Rejected[i].Err = &transport.Error{Class: transport.Permanent, Protocol: string(mb.Transport()), Op: "rcpt", Message: "recipient refused"}
		}
	}
	for _, rj := range res.Rejected {
		rejected[strings.ToLower(rj.Address)] = rj.Err
	}
	var delivered, refused []string
	var refusedReason string
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		if rc.State != store.Pending {
			continue
		}
		if rj, ok := rejected[strings.ToLower(rc.Address.Address)]; ok {
			if rj.Class == transport.Permanent {
				rc.State, rc.Reason = store.Refused, rj.Error()
				refused = append(refused, rc.Address.Address)
				refusedReason = rc.Reason
				if s.o.Suppressions != nil {
					sctx, cancel := s.storeCtx()
					if serr := s.o.Suppressions.Suppress(sctx, rc.Address.Address, rj.Error()); serr != nil {
						s.log.Warn("suppression list update failed", slog.String("error", serr.Error()))
					}
					cancel()
				}
			}
			continue
		}
		if err == nil {
			rc.State = store.Delivered
			delivered = append(delivered, rc.Address.Address)
		}
	}
	if err == nil {
		s.mu.Lock()
		st.lastSuccess = now
		s.mu.Unlock()
	} else {
		s.mu.Lock()
		st.lastError, st.lastErrorAt = err.Error(), now
		s.mu.Unlock()
		if broken {
			s.connFailed(st, mb, err)
		}
	}
	switch {
	case len(r.Pending()) == 0:
		r.State = store.Sent
		if len(delivered) == 0 && !anyDelivered(r) {
			r.State = store.Dead
			r.Reason = "every recipient was refused: " + refusedReason
		}
		r.LastError = errString(err)
		s.update(r, token)
	case err != nil && transport.ClassOf(err) == transport.Permanent && len(res.Rejected) == 0:
		// The whole message was refused (MAIL FROM, DATA): dead at once.
		s.kill(r, token, err.Error(), err)
	case err != nil:
		s.retry(r, token, err)
	default:
		// Some recipients were deferred (4xx at RCPT): retry those.
		var tmp error
		for _, rj := range res.Rejected {
			if rj.Err.Class != transport.Permanent {
				tmp = rj.Err
				break
			}
		}
		s.retry(r, token, tmp)
	}
	// Events go out once the outcome is stored.
	base := Event{ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Attempt: r.Attempts, Rule: r.Rule, Decision: r.DecisionReason}
	if len(delivered) > 0 {
		e := base
		e.Kind, e.Recipients, e.Reason = EventDelivered, delivered, res.Response
		s.emit(e)
	}
	if len(refused) > 0 {
		e := base
		e.Kind, e.Recipients, e.Reason = EventFailed, refused, refusedReason
		s.emit(e)
	}
	return broken
}

func anyDelivered(r *store.OutboxRecord) bool {
	for _, rc := range r.Recipients {
		if rc.State == store.Delivered {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// retry schedules the next attempt with backoff, or kills the record once
// it would exceed MaxAge.
func (s *Sender) retry(r *store.OutboxRecord, token string, err error) {
	now := s.clk.Now()
	attempt := max(r.Attempts-1, 0)
	// A server that said how long to wait (Retry-After) is not asked sooner.
	next := now.Add(max(s.policy.Delay(attempt), transport.RetryAfter(err)))
	r.LastError = errString(err)
	if next.Sub(r.EnqueuedAt) > s.o.MaxAge {
		s.kill(r, token, fmt.Sprintf("gave up after %d attempts over %s: %s", r.Attempts, now.Sub(r.EnqueuedAt).Round(time.Second), r.LastError), err)
		return
	}
	r.State = store.Queued
	r.NextAttempt = next
	s.update(r, token)
	var to []string
	for _, rc := range r.Pending() {
		to = append(to, rc.Address.Address)
	}
	s.emit(Event{Kind: EventDeferred, ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Recipients: to, Attempt: r.Attempts,
		NextAttempt: next, Reason: r.LastError, Err: err, Rule: r.Rule, Decision: r.DecisionReason})
}

// kill marks the record dead with reason; pending recipients are refused.
func (s *Sender) kill(r *store.OutboxRecord, token, reason string, err error) {
	var to []string
	for i := range r.Recipients {
		if r.Recipients[i].State == store.Pending {
			r.Recipients[i].State, r.Recipients[i].Reason = store.Refused, reason
			to = append(to, r.Recipients[i].Address.Address)
		}
	}
	r.State = store.Dead
	r.Reason = reason
	if err != nil {
		r.LastError = err.Error()
	}
	s.update(r, token)
	s.emit(Event{Kind: EventFailed, ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Recipients: to, Attempt: r.Attempts,
		Reason: reason, Err: err, Rule: r.Rule, Decision: r.DecisionReason})
}

func (s *Sender) update(r *store.OutboxRecord, token string) {
	ctx, cancel := s.storeCtx()
	defer cancel()
	if err := s.o.Outbox.Update(ctx, r, token); err != nil {
		s.log.Error("outbox update failed", slog.String("id", r.ID), slog.String("error", err.Error()))
	}
}

func (s *Sender) release(r *store.OutboxRecord, token string) {
	ctx, cancel := s.storeCtx()
	defer cancel()
	if err := s.o.Outbox.Release(ctx, r.ID, token); err != nil {
		s.log.Error("outbox release failed", slog.String("id", r.ID), slog.String("error", err.Error()))
	}
}
