package message

import (
	"bytes"
	"regexp"
	"strings"
)

// Report is a machine-readable report part: an RFC 3464 delivery status
// (message/delivery-status), an RFC 5965 feedback report or an RFC 8098
// disposition notification.
type Report struct {
	// ContentType is the report part's media type, lower case.
	ContentType string
	// Fields holds the per-message fields (Reporting-MTA, Arrival-Date,
	// Feedback-Type, ...).
	Fields Header
	// Recipients holds one entry per per-recipient block of a delivery
	// status report.
	Recipients []RecipientStatus
}

// RecipientStatus is one per-recipient block of a delivery status report.
type RecipientStatus struct {
	FinalRecipient    string // address only, "rfc822;" stripped
	OriginalRecipient string // address only, "rfc822;" stripped
	Action            string // failed, delayed, delivered, relayed, expanded (lower case)
	Status            string // enhanced status code "5.1.1", "" if absent or invalid
	DiagnosticCode    string // as written, "smtp;" stripped, unfolded
	RemoteMTA         string // "dns;" stripped
	Fields            Header // all fields of the block
}

var statusRe = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)

func stripType(v string) string {
	v = strings.TrimSpace(v)
	if t, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(t, " <@") {
		return strings.TrimSpace(rest)
	}
	return v
}

// parseReport parses the decoded body of a report part.
func parseReport(ct string, b []byte) *Report {
	r := &Report{ContentType: ct}
	// Normalise line endings so that blank-line separated blocks are found.
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	first := true
	for len(bytes.TrimSpace(b)) > 0 {
		// Skip blank lines between blocks.
		b = bytes.TrimLeft(b, " \t\n")
		var h Header
		h, b = parseHeaderBlock(b)
		if len(h.Fields) == 0 {
			continue
		}
		isRcpt := h.Has("Final-Recipient") || h.Has("Original-Recipient") || h.Has("Action") || h.Has("Status")
		if first && !isRcpt {
			r.Fields = h
			first = false
			continue
		}
		first = false
		if !isRcpt {
			r.Fields.Fields = append(r.Fields.Fields, h.Fields...)
			continue
		}
		rs := RecipientStatus{
			FinalRecipient:    strings.Trim(stripType(h.Get("Final-Recipient")), "<>"),
			OriginalRecipient: strings.Trim(stripType(h.Get("Original-Recipient")), "<>"),
			Action:            strings.ToLower(strings.TrimSpace(h.Get("Action"))),
			DiagnosticCode:    stripType(h.Get("Diagnostic-Code")),
			RemoteMTA:         stripType(h.Get("Remote-MTA")),
			Fields:            h,
		}
		if m := statusRe.FindString(h.Get("Status")); m != "" {
			rs.Status = m
		}
		if i := strings.IndexAny(rs.Action, " \t("); i > 0 {
			rs.Action = rs.Action[:i]
		}
		r.Recipients = append(r.Recipients, rs)
	}
	return r
}
