package mailtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"github.com/correio-dev/correio/transport"
)

// IMAPOptions configure an IMAPServer. The zero value serves plaintext IMAP
// on 127.0.0.1 with IDLE, MOVE, UIDPLUS and the PLAIN, LOGIN-command and
// XOAUTH2 logins.
type IMAPOptions struct {
	// TLSConfig enables STARTTLS, or implicit TLS with ImplicitTLS.
	TLSConfig   *tls.Config
	ImplicitTLS bool
	// NoMove and NoUIDPlus hide those extensions, to test the fallbacks of
	// a client. IDLE cannot be hidden on an IMAP4rev1 server of go-imap.
	NoMove    bool
	NoUIDPlus bool
	// Debug receives the raw protocol (credentials included).
	Debug io.Writer
}

// IMAPServer is an in-process IMAP server (go-imap v2 imapserver over the
// in-memory imapmemserver backend) listening on 127.0.0.1. Put mail in with
// Append, look at a folder with Status, and script faults with
// SetLoginRefused, ResetUIDValidity, or a Proxy in front of Addr.
type IMAPServer struct {
	// Addr is host:port of the listener.
	Addr string

	ln   net.Listener
	srv  *imapserver.Server
	mem  *imapmemserver.Server
	done chan struct{}

	mu           sync.Mutex
	users        map[string]*imapmemserver.User
	passwords    map[string]string
	tokens       map[string]string // user -> accepted XOAUTH2 token
	refuseLogin  bool
	echoLogin    bool
	logins       int
	failedLogins int
	selected     map[string]int // user + "\x00" + folder -> connections with it selected
	selStats     SelectStats
}

// ErrUnknownUser is returned by the helpers for a user never added.
var ErrUnknownUser = errors.New("mailtest: unknown user")

// NewIMAPServer starts an IMAP server on 127.0.0.1:0. Close it when done.
func NewIMAPServer(opts *IMAPOptions) (*IMAPServer, error) {
	if opts == nil {
		opts = &IMAPOptions{}
	}
	s := &IMAPServer{
		mem:       imapmemserver.New(),
		users:     map[string]*imapmemserver.User{},
		passwords: map[string]string{},
		tokens:    map[string]string{},
		done:      make(chan struct{}),
	}
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}}
	if !opts.NoMove {
		caps[imap.CapMove] = struct{}{}
	}
	if !opts.NoUIDPlus {
		caps[imap.CapUIDPlus] = struct{}{}
	}
	so := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{srv: s}, nil, nil
		},
		Caps:         caps,
		Logger:       log.New(io.Discard, "", 0),
		InsecureAuth: true,
		DebugWriter:  opts.Debug,
	}
	if !opts.ImplicitTLS {
		so.TLSConfig = opts.TLSConfig
	}
	s.srv = imapserver.New(so)
	// The clients' keep-alive: Go's 15 s default on thousands of
	// loopback connections overflows the kernel's backlog.
	lc := net.ListenConfig{KeepAliveConfig: transport.DefaultKeepAlive()}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if opts.ImplicitTLS {
		if opts.TLSConfig == nil {
			_ = ln.Close()
			return nil, errors.New("mailtest: ImplicitTLS needs a TLSConfig")
		}
		ln = tls.NewListener(ln, opts.TLSConfig)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Host returns "127.0.0.1".
func (s *IMAPServer) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port returns the listening port.
func (s *IMAPServer) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server and closes every connection.
func (s *IMAPServer) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// AddUser adds a user with a password and an empty INBOX. Adding an existing
// user changes its password.
func (s *IMAPServer) AddUser(username, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passwords[username] = password
	if _, ok := s.users[username]; ok {
		return
	}
	u := imapmemserver.NewUser(username, password)
	_ = u.Create("INBOX", nil)
	s.users[username] = u
	s.mem.AddUser(u)
}

// SetToken makes token an accepted XOAUTH2 access token of username
// (replacing the previous one, so an old token is refused).
func (s *IMAPServer) SetToken(username, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[username] = token
}

// SetLoginRefused makes every login fail (true) or work again (false), as a
// server refusing credentials would.
func (s *IMAPServer) SetLoginRefused(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseLogin = refuse
}

// SetLoginEcho makes every login fail (true) with a NO that quotes the
// client's credentials back, as some servers do: the LOGIN user name and
// password as received (and base64-encoded), or each AUTHENTICATE response
// base64-encoded as sent and decoded (the PLAIN or XOAUTH2 blob, the
// token). A client must keep them out of every output.
func (s *IMAPServer) SetLoginEcho(echo bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echoLogin = echo
}

func (s *IMAPServer) echoing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.echoLogin
}

// echoRefusal counts a failed login and quotes text back.
func (s *IMAPServer) echoRefusal(text string) error {
	s.mu.Lock()
	s.failedLogins++
	s.mu.Unlock()
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Authentication failed: " + text}
}

// Logins returns the number of successful and failed logins.
func (s *IMAPServer) Logins() (ok, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.failedLogins
}

func (s *IMAPServer) user(username string) (*imapmemserver.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownUser, username)
	}
	return u, nil
}

func (s *IMAPServer) login(username string, check func() bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if s.refuseLogin || !ok || !check() {
		s.failedLogins++
		return imapserver.ErrAuthFailed
	}
	_ = u
	s.logins++
	return nil
}

// CreateFolder creates a folder of a user (no error if it exists).
func (s *IMAPServer) CreateFolder(username, folder string) error {
	u, err := s.user(username)
	if err != nil {
		return err
	}
	if err := u.Create(folder, nil); err != nil && !isAlreadyExists(err) {
		return err
	}
	return nil
}

func isAlreadyExists(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists
}

type literal struct {
	*bytes.Reader
}

func (l literal) Size() int64 { return int64(l.Reader.Len()) }

// Append adds a raw RFC 5322 message to a folder of a user (created if
// missing) and returns its UID. Sessions in IDLE on that folder see EXISTS.
func (s *IMAPServer) Append(username, folder string, raw []byte, flags ...imap.Flag) (imap.UID, error) {
	u, err := s.user(username)
	if err != nil {
		return 0, err
	}
	if err := s.CreateFolder(username, folder); err != nil {
		return 0, err
	}
	data, err := u.Append(folder, literal{bytes.NewReader(raw)}, &imap.AppendOptions{Flags: flags})
	if err != nil {
		return 0, err
	}
	return data.UID, nil
}

// Status returns the message count, unseen count, UIDNEXT and UIDVALIDITY
// of a folder.
func (s *IMAPServer) Status(username, folder string) (*imap.StatusData, error) {
	u, err := s.user(username)
	if err != nil {
		return nil, err
	}
	return u.Status(folder, &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true})
}

// ResetUIDValidity gives a folder a new UIDVALIDITY, as a server rebuilt
// from a backup does: the same messages come back under new UIDs (their
// flags are kept). Clients that trusted their old UIDs must notice.
func (s *IMAPServer) ResetUIDValidity(username, folder string) error {
	u, err := s.user(username)
	if err != nil {
		return err
	}
	tmp := folder + ".mailtest-rebuild"
	if err := u.Rename(folder, tmp, nil); err != nil {
		return err
	}
	if err := u.Create(folder, nil); err != nil {
		return err
	}
	sess := imapmemserver.NewUserSession(u)
	defer sess.Close()
	st, err := u.Status(tmp, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return err
	}
	if _, err := sess.Select(tmp, nil); err != nil {
		return err
	}
	if st.NumMessages != nil && *st.NumMessages > 0 {
		if _, err := sess.Copy(imap.SeqSetNum(seqRange(*st.NumMessages)...), folder); err != nil {
			return err
		}
	}
	if err := sess.Unselect(); err != nil {
		return err
	}
	return u.Delete(tmp)
}

func seqRange(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i + 1)
	}
	return out
}

// imapSession is the per-connection session: the memory backend with the
// server's login rules and SASL mechanisms.
type imapSession struct {
	*imapmemserver.UserSession
	srv  *IMAPServer
	user string // logged-in user
	sel  string // selected folder's key in srv.selected, or ""
}

var (
	_ imapserver.Session     = (*imapSession)(nil)
	_ imapserver.SessionMove = (*imapSession)(nil)
	_ imapserver.SessionSASL = (*imapSession)(nil)
)

func (s *imapSession) Close() error {
	s.srv.unselectFolder(s.sel)
	s.sel = ""
	if s.UserSession != nil {
		return s.UserSession.Close()
	}
	return nil
}

// matches reports whether numSet names a message of the selected folder.
func (s *imapSession) matches(numSet imap.NumSet) bool {
	kind, crit := imapserver.NumKindSeq, &imap.SearchCriteria{}
	switch set := numSet.(type) {
	case imap.UIDSet:
		kind, crit.UID = imapserver.NumKindUID, []imap.UIDSet{set}
	case imap.SeqSet:
		crit.SeqNum = []imap.SeqSet{set}
	default:
		return true
	}
	data, err := s.UserSession.Search(kind, crit, &imap.SearchOptions{ReturnCount: true})
	return err != nil || data.Count > 0
}

// Move and Copy of messages that are gone answer a plain OK, as real
// servers do (Dovecot: "No messages found"): the memory backend would send
// a COPYUID with empty sets, which is not valid IMAP.
func (s *imapSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if s.UserSession != nil && !s.matches(numSet) {
		return nil
	}
	return s.UserSession.Move(w, numSet, dest)
}

// Copy: see Move.
func (s *imapSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if s.UserSession != nil && !s.matches(numSet) {
		return nil, nil
	}
	return s.UserSession.Copy(numSet, dest)
}

// Idle sends the updates queued since the last command before waiting, as
// real servers do (the memory backend only sends updates arriving during
// IDLE).
func (s *imapSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if err := s.UserSession.Poll(w, true); err != nil {
		return err
	}
	return s.UserSession.Idle(w, stop)
}

func (s *imapSession) Login(username, password string) error {
	if s.srv.echoing() {
		return s.srv.echoRefusal("LOGIN " + username + " " + password + " (" + base64.StdEncoding.EncodeToString([]byte(password)) + ")")
	}
	if err := s.srv.login(username, func() bool { return s.srv.passwords[username] == password }); err != nil {
		return err
	}
	return s.start(username)
}

func (s *imapSession) start(username string) error {
	u, err := s.srv.user(username)
	if err != nil {
		return imapserver.ErrAuthFailed
	}
	s.UserSession = imapmemserver.NewUserSession(u)
	s.user = username
	return nil
}

func (s *imapSession) AuthenticateMechanisms() []string { return []string{"PLAIN", "XOAUTH2"} }

func (s *imapSession) Authenticate(mech string) (sasl.Server, error) {
	if s.srv.echoing() {
		return &imapEcho{srv: s.srv, mech: strings.ToUpper(mech)}, nil
	}
	switch strings.ToUpper(mech) {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return imapserver.ErrAuthFailed
			}
			return s.Login(username, password)
		}), nil
	case "XOAUTH2":
		return &xoauth2Server{sess: s}, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "unsupported mechanism"}
}

// xoauth2Server is the server side of XOAUTH2: one client response
// "user=U\x01auth=Bearer T\x01\x01".
type xoauth2Server struct {
	sess *imapSession
	done bool
}

func (x *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if x.done {
		return nil, true, imapserver.ErrAuthFailed
	}
	if response == nil {
		return []byte{}, false, nil
	}
	x.done = true
	user, token := parseXOAUTH2(response)
	err := x.sess.srv.login(user, func() bool {
		t, ok := x.sess.srv.tokens[user]
		return ok && t != "" && t == token
	})
	if err != nil {
		return nil, true, err
	}
	return nil, true, x.sess.start(user)
}

// imapEcho refuses an AUTHENTICATE exchange, quoting the client's response
// (SetLoginEcho).
type imapEcho struct {
	srv  *IMAPServer
	mech string
}

func (e *imapEcho) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil
	}
	return nil, true, e.srv.echoRefusal("AUTHENTICATE " + e.mech + " " + echoText([][]byte{resp}))
}
