package message

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFilenameBytes is the longest file name SanitizeFilename returns.
const MaxFilenameBytes = 200

// SanitizeFilename makes a file name taken from a message safe to use as the
// last element of a local path: directory parts (both / and \) are dropped,
// control and format characters removed, leading dots and surrounding spaces
// trimmed, invalid UTF-8 replaced, and the result bounded to
// MaxFilenameBytes, keeping the extension where possible. It returns "" if
// nothing usable remains.
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.ReplaceAll(name, `\`, "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == 0 || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			continue
		case strings.ContainsRune(`:*?"<>|`, r):
			b.WriteByte('_')
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	name = strings.Join(strings.Fields(b.String()), " ")
	name = strings.TrimLeft(name, ". ")
	name = strings.TrimRight(name, ". ")
	if len(name) > MaxFilenameBytes {
		ext := path.Ext(name)
		if len(ext) > 16 || len(ext) >= MaxFilenameBytes/2 {
			ext = ""
		}
		base := name[:len(name)-len(ext)]
		n := MaxFilenameBytes - len(ext)
		for n > 0 && !utf8.RuneStart(base[n]) {
			n--
		}
		name = strings.TrimRight(base[:n], ". ") + ext
	}
	return name
}
