package harness

import "testing"

func TestOpened(t *testing.T) {
	var o Opened[string, int]
	if w, s := o.Get("a"); w != "" || s != 0 {
		t.Fatalf("unknown handle: %q %d", w, s)
	}
	if h := o.Add("a", "/tmp/a.db", 1); h != "a" {
		t.Fatalf("Add returned %q", h)
	}
	o.Add("b", "dsn-b", 2)
	if w, s := o.Get("a"); w != "/tmp/a.db" || s != 1 {
		t.Fatalf("a: %q %d", w, s)
	}
	o.Add("a", "/tmp/a.db", 3) // reopened
	if _, s := o.Get("a"); s != 3 {
		t.Fatalf("a after reopen: %d", s)
	}
	if w, s := o.Get("b"); w != "dsn-b" || s != 2 {
		t.Fatalf("b: %q %d", w, s)
	}
}
