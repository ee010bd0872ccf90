// Package message parses raw email messages leniently, classifies them
// (bounce, delivery report, feedback report, loop, auto-reply,
// challenge-response request, list mail) and tells whether the sender's
// domain was authenticated.
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
// tables (RFC 2047 in every charset it knows, and UTF-7, RFC 2152, which
// those tables lack); file names are RFC 2231 and RFC 2047 decoded and made
// safe with SanitizeFilename. Damaged base64 in a text body is decoded as
// far as it goes (WarnBadBase64), malformed quoted-printable escapes are
// kept as written (WarnBadQuotedPrintable), and a message that starts with
// an empty header block is reported (WarnEmptyHeader).
//
// # Header text safe to reuse
//
// Decoded header text never holds CR, LF or another control character,
// whether they were written raw or RFC 2047/2231 encoded: Message.Subject,
// Header.Text, DecodeHeaderText, every display name and every file name are
// cleaned (CleanHeaderText), so they can go into a reply's header, a log
// line or a page as they are. Addresses are parsed the way RFC 5322 reads
// them, from the raw structure before any decoding: an encoded word is
// display-name text and never becomes, or hides, an address.
//
// # Sender authentication
//
// With Options.Auth, Parse (or ParseContext, whose context bounds DNS
// lookups) sets Message.Auth: whether the From domain was authenticated by
// an aligned DKIM signature, a DMARC pass or an aligned SPF pass (RFC 7489,
// relaxed alignment). Results come from Authentication-Results fields
// (RFC 8601, parsed with go-msgauth) whose authserv-id the host trusts,
// AuthOptions.TrustedAuthServIDs: the id of its own receiving server, which
// must strip fields carrying that id from incoming mail; fields of any
// other id are ignored, as anyone can write them. When AuthOptions.DKIM
// holds a TXTResolver, correio also verifies DKIM signatures itself
// (go-msgauth/dkim). Authenticate does the same for a message already
// parsed.
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
// header or one of our own addresses as sender), auto-replies and list or
// bulk mail. The Classification says whether an automatic answer is
// allowed, and for bounces gives the per-recipient status, hard or soft,
// and the Message-ID of the message that bounced, so the host can link it to
// the mail it sent.
//
// Auto-replies are recognised from RFC 3834's Auto-Submitted, the marker
// headers autoresponders write (X-Autoreply, X-Autorespond, X-Autoresponder,
// X-AutoReply-From, X-Mail-Autoreply, X-Autogenerated: Reply, X-Vacation,
// Precedence: auto_reply), Exchange's X-MS-Exchange-Inbox-Rules-Loop with
// X-Auto-Response-Suppress, read receipts (RFC 8098), and subjects: the
// prefixes Outlook, Exchange, Lotus Domino ("AUTO:") and vacation programs
// write in pt-BR, en, es, fr, de, it, nl and other languages are enough
// alone, and so is a subject that is only a vacation word ("Ausente",
// "Absence"); vacation words elsewhere in a subject, or a vacation text in the
// body of an answer, count only with a sign that a program sent the message
// (Precedence: bulk or junk, a null Return-Path, X-Auto-Response-Suppress,
// X-Loop, a no-reply or mailer-daemon sender). So a vacation notice sent with Precedence: bulk is an
// auto-reply, not list mail, while a person writing "Vacation next week" is
// normal mail. X-Auto-Response-Suppress alone is a request not to answer
// ([MS-OXCMAIL] 2.1.3.2.20) that ordinary Outlook mail carries too: it sets
// Classification.AutoAnswerSuppressed and forbids an automatic answer but
// leaves the Kind alone.
//
// Challenge-response requests (TMDA, cPanel BoxTrapper, Spam Arrest,
// Boxbe, Mailblocks and "verify you are human" systems) hold our message
// until a person confirms. They are KindChallenge, decided before bounces
// because some are built as delivery reports: never a bounce, never
// answered automatically (answering would confirm or loop).
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
