package message

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (wrapped in a *ParseError) by Parse. Test for them
// with errors.Is.
var (
	// ErrTooLarge reports that the raw message is larger than Options.MaxSize.
	ErrTooLarge = errors.New("message: message too large")
	// ErrUnreadable reports that the input is not a message at all (empty,
	// binary, or without a single header field or body).
	ErrUnreadable = errors.New("message: message unreadable")
	// ErrIO reports that reading the spooled raw message failed.
	ErrIO = errors.New("message: read error")
)

// Reason is the stable code of a ParseError.
type Reason string

// Reasons carried by ParseError.
const (
	ReasonTooLarge Reason = "too_large" // larger than Options.MaxSize
	ReasonEmpty    Reason = "empty"     // no bytes at all
	ReasonNoHeader Reason = "no_header" // no header field and no text could be found
	ReasonBinary   Reason = "binary"    // the input is binary data, not a message
	ReasonIO       Reason = "io"        // the underlying io.ReaderAt failed
)

// ParseError is the error returned by Parse when a message cannot be read at
// all. Defects that could be worked around are reported as Warnings instead.
type ParseError struct {
	Reason Reason // stable code
	Offset int64  // byte offset in the raw message where the problem was found
	Err    error  // underlying error, if any
}

// Error implements error.
func (e *ParseError) Error() string {
	s := fmt.Sprintf("message: cannot parse (%s at offset %d)", e.Reason, e.Offset)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTooLarge) and friends work on a *ParseError.
func (e *ParseError) Is(target error) bool {
	switch target {
	case ErrTooLarge:
		return e.Reason == ReasonTooLarge
	case ErrUnreadable:
		return e.Reason == ReasonEmpty || e.Reason == ReasonNoHeader || e.Reason == ReasonBinary
	case ErrIO:
		return e.Reason == ReasonIO
	}
	return false
}

// WarningCode is the stable code of a Warning.
type WarningCode string

// Warning codes. A Warning means the message was salvaged despite a defect.
const (
	WarnMboxFromLine       WarningCode = "mbox_from_line"        // leading mbox "From " line skipped
	WarnByteOrderMark      WarningCode = "byte_order_mark"       // leading byte-order mark skipped
	WarnMalformedHeader    WarningCode = "malformed_header"      // header line without a field name, skipped
	WarnHeaderTruncated    WarningCode = "header_truncated"      // header block or field longer than the limit
	WarnMissingBoundary    WarningCode = "missing_boundary"      // multipart without boundary parameter
	WarnUnclosedMultipart  WarningCode = "unclosed_multipart"    // multipart body without closing boundary
	WarnBadContentType     WarningCode = "bad_content_type"      // Content-Type could not be parsed
	WarnBadDisposition     WarningCode = "bad_disposition"       // Content-Disposition could not be parsed
	WarnUnknownCharset     WarningCode = "unknown_charset"       // charset unknown, text decoded by guess
	WarnUndeclared8Bit     WarningCode = "undeclared_8bit"       // 8-bit text without charset, decoded by guess
	WarnBadEncoding        WarningCode = "bad_transfer_encoding" // base64/quoted-printable damaged or unknown
	WarnBadAddress         WarningCode = "bad_address"           // address list salvaged by a lenient parser
	WarnBadDate            WarningCode = "bad_date"              // Date header unparsable
	WarnTextTruncated      WarningCode = "text_truncated"        // Text or HTML cut at Options.MaxTextBytes
	WarnDepthLimit         WarningCode = "depth_limit"           // deeper MIME structure kept as one opaque part
	WarnPartLimit          WarningCode = "part_limit"            // parts beyond Options.MaxParts ignored
	WarnFilenameChanged    WarningCode = "filename_sanitized"    // file name changed to make it safe
	WarnBareCR             WarningCode = "bare_cr_line_endings"  // lines end in CR only
	WarnNoHeader           WarningCode = "no_header"             // message without header fields
	WarnEmptyHeader        WarningCode = "empty_header"          // message starts with an empty line (an empty header block)
	WarnBadBase64          WarningCode = "bad_base64"            // text body in damaged base64: garbage skipped, what decodes kept
	WarnBadQuotedPrintable WarningCode = "bad_quoted_printable"  // text body with malformed quoted-printable escapes, kept as written
)

// Warning is a defect found while parsing that did not prevent reading the
// message.
type Warning struct {
	Code   WarningCode // stable code
	Offset int64       // byte offset in the raw message, -1 if unknown
	Detail string      // human-readable detail (English), may be empty
}

// String formats the warning for logs and test output.
func (w Warning) String() string {
	if w.Detail == "" {
		return fmt.Sprintf("%s@%d", w.Code, w.Offset)
	}
	return fmt.Sprintf("%s@%d: %s", w.Code, w.Offset, w.Detail)
}
