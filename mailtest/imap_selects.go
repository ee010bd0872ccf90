package mailtest

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// SelectStats counts, on the server side, how often one mailbox folder was
// selected by two connections at once: what a provider sees when two
// replicas of a host poll the same mailbox (a double poll).
type SelectStats struct {
	// Selects is the number of successful SELECT and EXAMINE commands.
	Selects int
	// Overlaps is the number of those that found the same user's folder
	// already selected on another connection.
	Overlaps int
	// MaxConcurrent is the most connections that had one folder selected
	// at the same moment.
	MaxConcurrent int
	// Users lists, per user name, the overlaps counted for its folders.
	Users map[string]int
}

// SelectStats returns the server's counts of selected folders since it
// started (or since ResetSelectStats).
func (s *IMAPServer) SelectStats() SelectStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.selStats
	out.Users = make(map[string]int, len(s.selStats.Users))
	for u, n := range s.selStats.Users {
		out.Users[u] = n
	}
	return out
}

// ResetSelectStats sets the counts of SelectStats to zero (the folders
// selected now stay counted as selected).
func (s *IMAPServer) ResetSelectStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.selStats = SelectStats{}
}

// Selected returns how many connections have username's folder selected
// now.
func (s *IMAPServer) Selected(username, folder string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.selected[selKey(username, folder)]
}

func selKey(user, folder string) string {
	if strings.EqualFold(folder, "INBOX") {
		folder = "INBOX"
	}
	return user + "\x00" + folder
}

// selectFolder records that a connection selected key (after leaving prev,
// when it had one selected).
func (s *IMAPServer) selectFolder(prev, key, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unselectLocked(prev)
	if s.selected == nil {
		s.selected = map[string]int{}
	}
	s.selected[key]++
	s.selStats.Selects++
	if n := s.selected[key]; n > 1 {
		s.selStats.Overlaps++
		if s.selStats.Users == nil {
			s.selStats.Users = map[string]int{}
		}
		s.selStats.Users[user]++
	}
	s.selStats.MaxConcurrent = max(s.selStats.MaxConcurrent, s.selected[key])
}

func (s *IMAPServer) unselectFolder(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unselectLocked(key)
}

func (s *IMAPServer) unselectLocked(key string) {
	if key == "" {
		return
	}
	if s.selected[key]--; s.selected[key] <= 0 {
		delete(s.selected, key)
	}
}

// Select selects a folder and counts it in the server's SelectStats.
func (s *imapSession) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	data, err := s.UserSession.Select(name, options)
	if err != nil {
		return nil, err
	}
	key := selKey(s.user, name)
	s.srv.selectFolder(s.sel, key, s.user)
	s.sel = key
	return data, nil
}

// Unselect leaves the selected folder (UNSELECT, or CLOSE).
func (s *imapSession) Unselect() error {
	err := s.UserSession.Unselect()
	s.srv.unselectFolder(s.sel)
	s.sel = ""
	return err
}
