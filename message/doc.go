// Package message parses raw email messages leniently and classifies them
// (bounce, delivery report, feedback report, loop, auto-reply, list mail).
//
// # Streaming
//
// Parse works on a spooled raw message (an io.ReaderAt of known size, such
// as a bytes.Reader or an *os.File). It scans the message once, line by
// line through a fixed-size buffer, and keeps only what it must: header
// fields, the byte offsets of every MIME part, and the decoded text bodies
// (bounded by Options.MaxTextBytes). Attachments and inline parts are
// described by a Part with their byte range in the raw message; Part.Open
// decodes base64 or quoted-printable on the fly from an io.SectionReader
// when the caller wants the content. A 50 MB attachment therefore costs a
// few hundred kilobytes of heap, not 50 MB.
//
// # Leniency
//
// Real mail is often broken. The parser uses its own tolerant boundary
// scanner instead of a strict MIME reader, so it reads messages that start
// with an mbox "From " line or a byte-order mark, header lines without a
// field name or with lost folding, multiparts whose closing boundary (or
// every boundary) is missing, unknown or wrong charsets, base64 with garbage
// and quoted-printable with bad escapes, bare-CR line endings and headers in
// undeclared 8-bit text (valid UTF-8 is kept, anything else is read as
// windows-1252). Each defect that was worked around is reported as a
// Warning with a stable WarningCode, so a host can count and inspect them.
// Parse returns an error (a *ParseError, matching ErrTooLarge,
// ErrUnreadable or ErrIO with errors.Is) only when the input cannot be read
// as a message at all. Limits on size, MIME depth, part count, header size
// and text size (Options, with sane zero-value defaults) bound the work on
// hostile input; Parse never panics and runs in time linear in the input.
//
// Header values are decoded with mime.WordDecoder and go-message's charset
// tables (RFC 2047 in every charset it knows); file names are RFC 2231 and
// RFC 2047 decoded and made safe with SanitizeFilename.
//
// # Classification
//
// Classify decides from the report structure and the body first, then from
// headers: a multipart/report with a delivery-status part (RFC 3464), a
// delivery report pasted into the text, or general signals of a non-standard
// bounce (a mailer-daemon or postmaster sender, a null Return-Path,
// X-Failed-Recipients, typical subject and body phrases, enhanced status and
// SMTP reply codes near recipient addresses, the returned original headers)
// make a bounce even when the message also carries Auto-Submitted, as many
// delivery reports do. Reports that tell of no failure (delay warnings,
// success notices) are KindDeliveryReport. Then come loops (our own marker
// header or one of our own addresses as sender), auto-replies (RFC 3834
// Auto-Submitted, X-Autoreply and kin, Precedence, read receipts) and list
// or bulk mail. The Classification says whether an automatic answer is
// allowed, and for bounces gives the per-recipient status, hard or soft,
// and the Message-ID of the message that bounced, so the host can link it to
// the mail it sent.
//
// # Ticket content
//
// ExtractReply (and Message.ReplyText, ExtractReplyHTML for HTML bodies)
// returns the new part of a reply without quoted history, attribution line
// and signature, with a Confidence and what decided the cut (CutBy); the
// full text is always kept. It knows the attribution and separator lines of
// the common clients in English, Portuguese, Spanish, French, German,
// Italian and a dozen more languages, Outlook's quoted header blocks, the
// HTML quote containers of Gmail, Outlook, Apple Mail and Thunderbird, and
// the signature lines of mobile clients. A line between ReplyMarkerPrefix
// and ReplyMarkerSuffix (ReplyMarker, ReplyMarkerFor) that the outbound
// side puts in its messages makes the cut exact.
//
// SanitizeHTML (and Message.SafeHTML) makes an HTML body safe to display
// with bluemonday, optionally blocks remote images (counting them), and maps
// cid: and Content-Location references to the message's parts under URLs
// the host chooses (HTMLOptions.PartURL). HTMLToText and Message.PlainText
// give text for HTML-only mail.
//
// The package holds no global mutable state (the sanitiser's policy is
// built once and never changed) and logs nothing.
package message
