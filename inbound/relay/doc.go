// Package relay has the http.Handlers of the inbound relays users name
// most: Amazon SES through SNS (NewSES), Mailgun routes (NewMailgun),
// SendGrid Inbound Parse in raw mode (NewSendGrid) and Postmark inbound
// (NewPostmark). Each one verifies the request the way its provider
// documents (SNS message signatures with the certificate from an SNS
// host; Mailgun's HMAC signature with a fresh timestamp and an unseen
// token; SendGrid's ECDSA signature of a security policy, or basic
// credentials; Postmark's basic credentials), bounds the body, takes the
// raw message out of the provider's format and hands it to an
// inbound.Ingester: the same pipeline as fetched mail (key,
// classification, threading, contract routing, the host's Handler, the
// store's commit, quarantine; a message whose key was recorded is a
// duplicate and is not handed again).
//
// Chatwoot takes the same relays through Rails Action Mailbox's
// ingresses; where a check here is the same as an ingress's (Mailgun's
// signature, Postmark's basic credentials and RawEmail), the handler's
// documentation says so.
//
// The target mailboxes (of transport kind push) are Common.Mailbox, or
// the envelope recipients the provider reports, mapped by address
// (inbound.Ingester.Recipient, which also strips a "+detail").
//
// # Answers
//
// A relay retries what we could not take and drops what we refuse, each
// by its own rule; the handlers answer so that a message is never dropped
// while it could still be taken:
//
//	200 taken: handled, a duplicate, or quarantined (JSON Response), each durable
//	503 not taken (the store or the host's Handler failed, an SNS certificate could
//	    not be downloaded): retried by every provider; Retry-After is set
//	401 bad, stale or missing signature or credentials
//	403 SNS: a bad signature or a topic not in Topics
//	4xx malformed, not raw MIME, too large, or no pushed mailbox for the recipient:
//	    400, 404, 413; as 406 for Mailgun and 403 for Postmark, the codes they do not retry
//
// Every refusal is logged at warning level (Common.Logger) with its reason,
// never with a secret.
//
// Replays: a replayed request carries a message already taken, so its
// key makes it a duplicate; Mailgun's tokens are also remembered for the
// tolerance, and SNS messages and SendGrid requests are signed
// (not dated in a way their providers ask to check).
package relay
