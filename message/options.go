package message

// Default limits used when the corresponding Options field is zero.
const (
	DefaultMaxSize        = 128 << 20 // 128 MiB
	DefaultMaxDepth       = 16
	DefaultMaxParts       = 500
	DefaultMaxHeaderBytes = 256 << 10 // 256 KiB per header block
	DefaultMaxTextBytes   = 4 << 20   // 4 MiB of decoded Text and of HTML each
)

// Options bounds the work Parse does. The zero value is ready to use: every
// zero field takes its Default* value.
type Options struct {
	// MaxSize is the largest raw message accepted; larger ones fail with
	// ErrTooLarge.
	MaxSize int64
	// MaxDepth is the deepest MIME nesting parsed; deeper multiparts are kept
	// as one opaque part with a WarnDepthLimit warning.
	MaxDepth int
	// MaxParts is the largest number of MIME entities parsed; the rest are
	// ignored with a WarnPartLimit warning.
	MaxParts int
	// MaxHeaderBytes bounds each header block; the rest of the block is
	// skipped with a WarnHeaderTruncated warning.
	MaxHeaderBytes int
	// MaxTextBytes bounds Message.Text and Message.HTML (decoded UTF-8);
	// longer bodies are cut with a WarnTextTruncated warning.
	MaxTextBytes int
	// Auth, when not nil, makes Parse decide whether the From domain was
	// authenticated and set Message.Auth (see AuthOptions for which
	// Authentication-Results to trust, and Authenticate).
	Auth *AuthOptions
}

func (o Options) withDefaults() Options {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxParts <= 0 {
		o.MaxParts = DefaultMaxParts
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxTextBytes <= 0 {
		o.MaxTextBytes = DefaultMaxTextBytes
	}
	return o
}
