//go:build unix

package inbound

import (
	"context"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/correio-dev/correio/store/memory"
)

// Below the file-descriptor limit MaxConnections needs, New lowers it to
// the limit less the reserve, with a warning naming the limit, so the
// mailboxes past it rotate (Health.Mode rotating) instead of failing to
// connect with "too many open files".
func TestMaxConnectionsFitTheDescriptorLimit(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Skip(err)
	}
	const soft = 1000
	if orig.Max < soft {
		t.Skipf("hard limit %d", orig.Max)
	}
	low := orig
	low.Cur = soft
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	var logs strings.Builder
	p, err := New(Options{Store: memory.NewInboundStore(), Handler: HandlerFunc(func(context.Context, *Delivery) error { return nil }),
		Catalog: memory.NewCatalog(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if want := soft - fdReserve; p.o.MaxConnections != want || p.sched.global.cap != want {
		t.Fatalf("MaxConnections %d (scheduler %d), want %d", p.o.MaxConnections, p.sched.global.cap, want)
	}
	if !strings.Contains(logs.String(), "MaxConnections lowered") || !strings.Contains(logs.String(), "limit=1000") {
		t.Fatalf("no warning: %q", logs.String())
	}
	// A cap that fits is left alone, without a warning.
	logs.Reset()
	p, _ = New(Options{Store: memory.NewInboundStore(), Handler: HandlerFunc(func(context.Context, *Delivery) error { return nil }),
		Catalog: memory.NewCatalog(), Logger: slog.New(slog.NewTextHandler(&logs, nil)), MaxConnections: 500})
	if p.o.MaxConnections != 500 || logs.Len() != 0 {
		t.Fatalf("MaxConnections %d, log %q; want 500 and no warning", p.o.MaxConnections, logs.String())
	}
}
