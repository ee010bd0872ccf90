package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// InboundStore keeps the inbound poller's checkpoints, handled keys and
// quarantined messages in memory. It implements store.Inbound and is safe
// for concurrent use. Fencing tokens are checked like a durable store
// would: a write with a token lower than the highest seen for the mailbox
// fails with store.ErrFenced.
type InboundStore struct {
	mu           sync.Mutex
	checkpoints  map[cpKey]store.Checkpoint
	keys         map[mailbox.ID]map[string]store.InboundRecord
	quarantine   []QuarantinedMessage
	quarantineID int64
	fences       map[mailbox.ID]int64
	receipts     map[mailbox.ID][]folderReceipt // in commit order
}

type folderReceipt struct {
	folder string
	r      store.Receipt
}

type cpKey struct {
	mb     mailbox.ID
	folder string
}

// QuarantinedMessage is a quarantined message with its raw bytes.
type QuarantinedMessage struct {
	// ID names the message for QuarantinedItem and DeleteQuarantined
	// (1, 2, ... in the order quarantined).
	ID int64
	store.QuarantineItem
	Raw []byte
}

// NewInboundStore returns an empty store.
func NewInboundStore() *InboundStore {
	return &InboundStore{
		checkpoints: map[cpKey]store.Checkpoint{},
		keys:        map[mailbox.ID]map[string]store.InboundRecord{},
		fences:      map[mailbox.ID]int64{},
		receipts:    map[mailbox.ID][]folderReceipt{},
	}
}

var (
	_ store.Inbound        = (*InboundStore)(nil)
	_ store.BatchCommitter = (*InboundStore)(nil)
)

func (s *InboundStore) fenceLocked(mb mailbox.ID, f int64) error {
	if f < s.fences[mb] {
		return store.ErrFenced
	}
	s.fences[mb] = f
	return nil
}

// Checkpoint implements store.Inbound.
func (s *InboundStore) Checkpoint(_ context.Context, mb mailbox.ID, folder string) (store.Checkpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.checkpoints[cpKey{mb, folder}]
	return cp, ok, nil
}

// SetCheckpoint implements store.Inbound.
func (s *InboundStore) SetCheckpoint(_ context.Context, mb mailbox.ID, folder string, cp store.Checkpoint, fence int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fenceLocked(mb, fence); err != nil {
		return err
	}
	s.checkpoints[cpKey{mb, folder}] = cp
	return nil
}

// Done implements store.Inbound.
func (s *InboundStore) Done(_ context.Context, mb mailbox.ID, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[mb][key]
	return ok, nil
}

// DoneKeys implements store.DoneBatcher.
func (s *InboundStore) DoneKeys(_ context.Context, mb mailbox.ID, keys []string) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	done := make([]bool, len(keys))
	for i, k := range keys {
		_, done[i] = s.keys[mb][k]
	}
	return done, nil
}

// Commit implements store.Inbound.
func (s *InboundStore) Commit(_ context.Context, r store.InboundRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fenceLocked(r.Mailbox, r.Fence); err != nil {
		return err
	}
	s.commitLocked(r)
	return nil
}

// CommitBatch implements store.BatchCommitter: every record, or none when
// one's fencing token is stale.
func (s *InboundStore) CommitBatch(_ context.Context, rs []store.InboundRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[mailbox.ID]int64{} // the tokens as the batch raises them
	for _, r := range rs {
		if r.Key == "" {
			return errors.New("memory: commit: empty key")
		}
		f, ok := seen[r.Mailbox]
		if !ok {
			f = s.fences[r.Mailbox]
		}
		if r.Fence < f {
			return store.ErrFenced
		}
		seen[r.Mailbox] = r.Fence
	}
	for _, r := range rs {
		s.fences[r.Mailbox] = max(s.fences[r.Mailbox], r.Fence)
		s.commitLocked(r)
	}
	return nil
}

func (s *InboundStore) commitLocked(r store.InboundRecord) {
	m := s.keys[r.Mailbox]
	if m == nil {
		m = map[string]store.InboundRecord{}
		s.keys[r.Mailbox] = m
	}
	if _, ok := m[r.Key]; !ok { // a key committed again keeps its first record
		m[r.Key] = r
	}
	if r.Receipt != nil {
		rc := *r.Receipt
		rc.Key = r.Key
		s.clearLocked(r.Mailbox, []string{r.Key})
		s.receipts[r.Mailbox] = append(s.receipts[r.Mailbox], folderReceipt{folder: r.Folder, r: rc})
	}
	k := cpKey{r.Mailbox, r.Folder}
	// Under one UIDVALIDITY the checkpoint never moves back.
	if cur, ok := s.checkpoints[k]; !ok || cur.UIDValidity != r.Checkpoint.UIDValidity || cur.LastUID <= r.Checkpoint.LastUID {
		s.checkpoints[k] = r.Checkpoint
	}
}

// Receipts implements store.Inbound.
func (s *InboundStore) Receipts(_ context.Context, mb mailbox.ID, folder string) ([]store.Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Receipt
	for _, fr := range s.receipts[mb] {
		if fr.folder == folder {
			out = append(out, fr.r)
		}
	}
	return out, nil
}

// ClearReceipts implements store.Inbound.
func (s *InboundStore) ClearReceipts(_ context.Context, mb mailbox.ID, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clearLocked(mb, keys)
	return nil
}

func (s *InboundStore) clearLocked(mb mailbox.ID, keys []string) {
	if len(s.receipts[mb]) == 0 || len(keys) == 0 {
		return
	}
	drop := make(map[string]bool, len(keys))
	for _, k := range keys {
		drop[k] = true
	}
	kept := s.receipts[mb][:0]
	for _, fr := range s.receipts[mb] {
		if !drop[fr.r.Key] {
			kept = append(kept, fr)
		}
	}
	if len(kept) == 0 {
		delete(s.receipts, mb)
		return
	}
	s.receipts[mb] = kept
}

// Quarantine implements store.Inbound.
func (s *InboundStore) Quarantine(_ context.Context, q store.QuarantineItem, raw io.Reader) error {
	var b []byte
	if raw != nil {
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, raw); err != nil {
			return err
		}
		b = buf.Bytes()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fenceLocked(q.Mailbox, q.Fence); err != nil {
		return err
	}
	s.quarantineID++
	s.quarantine = append(s.quarantine, QuarantinedMessage{ID: s.quarantineID, QuarantineItem: q, Raw: b})
	return nil
}

// Quarantined returns the quarantined messages of a mailbox.
func (s *InboundStore) Quarantined(mb mailbox.ID) []QuarantinedMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []QuarantinedMessage
	for _, q := range s.quarantine {
		if q.Mailbox == mb {
			out = append(out, q)
		}
	}
	return out
}

// Records returns the committed records of a mailbox.
func (s *InboundStore) Records(mb mailbox.ID) []store.InboundRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.InboundRecord, 0, len(s.keys[mb]))
	for _, r := range s.keys[mb] {
		out = append(out, r)
	}
	return out
}

var _ store.QuarantineAdmin = (*InboundStore)(nil)
var _ store.DoneBatcher = (*InboundStore)(nil)

// QuarantinedItem implements store.QuarantineAdmin.
func (s *InboundStore) QuarantinedItem(_ context.Context, id int64) (store.QuarantineItem, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.quarantine {
		if q.ID == id {
			return q.QuarantineItem, q.Raw, nil
		}
	}
	return store.QuarantineItem{}, nil, fmt.Errorf("%w: quarantined message %d", store.ErrNotFound, id)
}

// DeleteQuarantined implements store.QuarantineAdmin.
func (s *InboundStore) DeleteQuarantined(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.quarantine {
		if q.ID == id {
			s.quarantine = append(s.quarantine[:i], s.quarantine[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: quarantined message %d", store.ErrNotFound, id)
}
