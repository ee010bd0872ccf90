package message

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	gomessage "github.com/emersion/go-message"
	"github.com/jhillyerd/enmime/v2"
)

// benchMessage builds a multipart/mixed iso-8859-1 message of about 5.6 KB
// with a quoted-printable text part and one base64 attachment.
func benchMessage() []byte {
	var b bytes.Buffer
	b.WriteString("From: =?iso-8859-1?Q?Jos=E9_Garc=EDa?= <jose@example.org>\r\n" +
		"To: Helpdesk <helpdesk@example.com>\r\n" +
		"Subject: =?iso-8859-1?Q?Probl=E8me_d'impression_au_2=E8me_=E9tage?=\r\n" +
		"Date: Tue, 2 Jan 2024 10:11:12 +0100\r\n" +
		"Message-ID: <bench-1@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"=_bench_boundary\"\r\n\r\n" +
		"This is a multi-part message in MIME format.\r\n" +
		"--=_bench_boundary\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	var text bytes.Buffer
	for i := 0; i < 18; i++ {
		text.WriteString("L'imprimante du deuxi\xe8me \xe9tage refuse d'imprimer depuis la mise \xe0 jour. \r\n")
	}
	qw := quotedprintable.NewWriter(&b)
	qw.Write(text.Bytes())
	qw.Close()
	b.WriteString("\r\n--=_bench_boundary\r\n" +
		"Content-Type: application/octet-stream; name=\"journal.log\"\r\n" +
		"Content-Disposition: attachment; filename=\"journal.log\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	att := bytes.Repeat([]byte("2024-01-02 10:00:00 spooler error 0x42 on queue 2\n"), 50)
	enc := base64.StdEncoding.EncodeToString(att)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--=_bench_boundary--\r\n")
	return b.Bytes()
}

func TestBenchMessage(t *testing.T) {
	raw := benchMessage()
	if len(raw) < 5000 || len(raw) > 6200 {
		t.Fatalf("bench message is %d bytes, want about 5.6 KB", len(raw))
	}
	m := mustParse(t, string(raw), Options{})
	if !strings.HasPrefix(m.Text, "L'imprimante du deuxième étage") || len(m.Parts) != 1 || m.Parts[0].Filename != "journal.log" {
		t.Fatalf("Text %q parts %d", clip(m.Text, 40), len(m.Parts))
	}
	t.Logf("bench message: %d bytes", len(raw))
}

func BenchmarkParse(b *testing.B) {
	raw := benchMessage()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := ParseBytes(raw, Options{})
		if err != nil {
			b.Fatal(err)
		}
		rc, _ := m.Parts[0].Open()
		io.Copy(io.Discard, rc)
		rc.Close()
	}
}

// BenchmarkParseGoMessage reads the same message fully with go-message.
func BenchmarkParseGoMessage(b *testing.B) {
	raw := benchMessage()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := gomessage.Read(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = e.Header.Text("Subject")
		mr := e.MultipartReader()
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, p.Body)
		}
	}
}

// BenchmarkParseEnmime reads the same message with enmime.
func BenchmarkParseEnmime(b *testing.B) {
	raw := benchMessage()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enmime.ReadEnvelope(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// writeLargeMessage writes a message with a base64 attachment of about
// size bytes (encoded) to a temporary file.
func writeLargeMessage(tb testing.TB, size int) *os.File {
	tb.Helper()
	f, err := os.Create(filepath.Join(tb.TempDir(), "large.eml"))
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "From: a@example.org\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n"+
		"--big\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"+
		"--big\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n")
	line := []byte(strings.Repeat("QUJDRA", 76/6) + "QUJD\r\n")
	for n := 0; n < size; n += len(line) {
		w.Write(line)
	}
	w.WriteString("--big--\r\n")
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return f
}

// TestLargeMessageHeap parses a 50 MB message from a file and checks that
// the parser allocates far less than the message size.
func TestLargeMessageHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 MB")
	}
	f := writeLargeMessage(t, 50<<20)
	defer f.Close()
	st, _ := f.Stat()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := Parse(f, st.Size(), Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d MB message: %d bytes allocated during Parse, heap growth %d bytes", st.Size()>>20, allocated, growth)
	if allocated > 16<<20 {
		t.Errorf("Parse allocated %d bytes for a %d byte message", allocated, st.Size())
	}
	if len(m.Parts) != 1 || m.Parts[0].Size < 30<<20 || m.Text != "see attachment" {
		t.Fatalf("parts %d text %q", len(m.Parts), m.Text)
	}
	// Reading the attachment streams too.
	rc, _ := m.Parts[0].Open()
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n < 30<<20 {
		t.Fatalf("decoded %d bytes, err %v", n, err)
	}
	runtime.KeepAlive(m)
}

// BenchmarkClassify classifies the benchmark message (an ordinary
// multipart message: the common case the inbound engine pays for).
func BenchmarkClassify(b *testing.B) {
	raw := benchMessage()
	m, err := ParseBytes(raw, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		Classify(m, ClassifyOptions{})
	}
}
