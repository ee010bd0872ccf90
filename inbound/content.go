package inbound

import "github.com/correio-dev/correio/message"

// ReplyText returns the new part of the message when it answers another
// one: the text without quoted history, attribution lines and signature,
// with a confidence (see message.Message.ReplyText). Use it for the
// comment a reply adds to a ticket; Reply.Full keeps the whole text.
func (d *Delivery) ReplyText() message.Reply {
	if d.Message == nil {
		return message.Reply{Confidence: message.ConfidenceLow, By: message.CutNone}
	}
	return d.Message.ReplyText()
}

// SafeHTML returns the message's HTML sanitised for display to agents,
// remote images optionally blocked and inline images mapped to the URLs
// the host serves them under (see message.SanitizeHTML).
func (d *Delivery) SafeHTML(opts message.HTMLOptions) message.SanitizedHTML {
	if d.Message == nil {
		return message.SanitizedHTML{}
	}
	return d.Message.SafeHTML(opts)
}
