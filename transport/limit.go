package transport

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// ErrLimit is matched (errors.Is) by every *LimitError: a server sent more
// than a transport bounds before buffering it. The *Error that carries it
// is of class Protocol.
var ErrLimit = errors.New("transport: the server exceeded a bound")

// LimitError says which bound a server exceeded.
type LimitError struct {
	// What was too long or too many: "line", "literal", "reply",
	// "responses", "message".
	What string
	// Limit is the bound (bytes, or a count for "responses").
	Limit int64
	// Got is how much the server announced or sent when it was stopped
	// (at least Limit+1; -1 when unknown).
	Got int64
}

func (e *LimitError) Error() string {
	unit := " bytes"
	if e.What == "responses" {
		unit = ""
	}
	if e.Got > 0 {
		return fmt.Sprintf("the server sent a %s of %d%s, over the bound of %d%s", e.What, e.Got, unit, e.Limit, unit)
	}
	return fmt.Sprintf("the server sent a %s over the bound of %d%s", e.What, e.Limit, unit)
}

// Is matches ErrLimit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// BudgetConn is a net.Conn whose reads are bounded by a byte budget the
// transport sets before each command (Arm): a server that sends more than
// the budget before the next Arm fails the read with a *LimitError, so a
// reply line or a multi-line reply without end is never buffered beyond
// the budget. It sits under TLS as well as above it (the budget counts
// what is read from the connection it wraps), which suits protocols whose
// replies are small and whose client knows when a reply starts (SMTP).
type BudgetConn struct {
	net.Conn
	what string

	mu     sync.Mutex
	budget int64 // bytes left; <0: unbounded
	limit  int64
	read   int64
	err    error
}

// NewBudgetConn wraps c with an initial budget of limit bytes (<=0:
// unbounded until Arm); what names the unit in errors ("reply").
func NewBudgetConn(c net.Conn, what string, limit int64) *BudgetConn {
	b := &BudgetConn{Conn: c, what: what}
	b.Arm(limit)
	return b
}

// Arm gives the connection a new budget of limit bytes (<=0: unbounded).
func (b *BudgetConn) Arm(limit int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if limit <= 0 {
		b.budget, b.limit = -1, 0
	} else {
		b.budget, b.limit = limit, limit
	}
	b.read = 0
}

// Err returns the *LimitError that stopped the connection, or nil.
func (b *BudgetConn) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Read implements net.Conn.
func (b *BudgetConn) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return 0, b.err
	}
	if b.budget >= 0 && int64(len(p)) > b.budget+1 {
		p = p[:b.budget+1] // read at most one byte over: enough to know
	}
	b.mu.Unlock()
	n, err := b.Conn.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read += int64(n)
	if b.budget >= 0 {
		b.budget -= int64(n)
		if b.budget < 0 {
			b.err = &LimitError{What: b.what, Limit: b.limit, Got: b.read}
			_ = b.Conn.Close()
			return 0, b.err
		}
	}
	return n, err
}
