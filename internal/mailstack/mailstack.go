// Package mailstack starts real Dovecot (IMAP, LMTP) and Postfix (SMTP
// submission) servers on loopback ports under a temporary directory, with
// test accounts and a test CA, for correio's integration tier.
//
// The Debian packages dovecot-imapd, dovecot-pop3d, dovecot-lmtpd and postfix must be
// installed (scripts/install-mailservers.sh), and the tests run as root
// (Dovecot switches to the mail user; Postfix, run by root, accepts a
// configuration directory of its own without any entry in
// /etc/postfix/main.cf). Everything else — the configuration, the
// certificates, the queues, the pid files — lives in the stack's own temp
// directory, made by Start and removed by Close; nothing under /etc is
// read but Debian's master.cf, and nothing there is written. Several stacks
// can run at once. A stack left behind by a killed test process is found
// by its owner file and its servers' pid files in its own directory and
// stopped by the next Start (see reapStale); nothing is ever stopped by
// process name.
package mailstack

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/correio-dev/correio/mailtest"
)

// Binaries the stack needs.
const (
	DovecotBin = "/usr/sbin/dovecot"
	PostfixBin = "/usr/sbin/postfix"
	// DovecotPOP3Bin is Dovecot's POP3 server (dovecot-pop3d): the stack
	// serves POP3 too, and Dovecot refuses to start without it.
	DovecotPOP3Bin = "/usr/lib/dovecot/pop3"
	MailUser       = "vmail"
)

// ErrNotRoot is returned when the test process does not run as root.
var ErrNotRoot = errors.New("mailstack: the real-server tests must run as root (Dovecot switches to the mail user; Postfix runs from a private configuration directory only for root)")

// ErrUnavailable is returned when the servers are not installed.
var ErrUnavailable = errors.New("mailstack: Dovecot (with its POP3 server) or Postfix not installed (run scripts/install-mailservers.sh)")

// Available reports whether Dovecot and Postfix are installed.
func Available() error {
	for _, b := range []string{DovecotBin, DovecotPOP3Bin, PostfixBin, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp"} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrUnavailable, b, err)
		}
	}
	return nil
}

// User is a test account: a full address and its password.
type User struct {
	Address  string
	Password string
}

// Options configure a stack. The zero value serves example.test, acme.test
// and globex.test with no users.
type Options struct {
	Domains []string
	Users   []User
	// OAuth2IntrospectionURL, when set, enables XOAUTH2 and OAUTHBEARER in
	// Dovecot (and so in Postfix submission, which authenticates through
	// Dovecot) against this RFC 7662 endpoint (see TokenServer).
	OAuth2IntrospectionURL string
	// Pipe, when set, makes Postfix deliver the mail of Pipe.Domain to a
	// pipe command instead of Dovecot.
	Pipe *Pipe
}

// Pipe is a Postfix pipe(8) delivery: every message for an address of
// Domain runs Argv (one recipient per run, as MailUser; Postfix expands
// ${original_recipient}, ${recipient}, ...). Its exit status decides:
// 0 delivered, 75 deferred (retried), others bounced.
type Pipe struct {
	Domain string
	Argv   []string
}

// Stack is a running Dovecot + Postfix pair.
type Stack struct {
	Dir string
	// Ports on 127.0.0.1.
	IMAPPort       int // IMAP with STARTTLS offered (plaintext allowed)
	IMAPSPort      int // IMAP over implicit TLS
	LMTPPort       int // Dovecot LMTP (Postfix delivers here)
	SubmissionPort int // SMTP submission: STARTTLS required, then AUTH
	SMTPSPort      int // SMTP submission over implicit TLS
	POP3Port       int // POP3 with STLS offered (plaintext allowed)
	POP3SPort      int // POP3 over implicit TLS
	CA             *mailtest.CA

	opts    Options
	mu      sync.Mutex
	dovecot *exec.Cmd
	postfix *exec.Cmd
	logs    *logBuffer
}

// Host is the address every listener binds.
const Host = "127.0.0.1"

// Start builds the configuration and starts both servers; it returns once
// every listener accepts connections.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if len(opts.Domains) == 0 {
		opts.Domains = []string{"example.test", "acme.test", "globex.test"}
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if err := ensureMailUser(); err != nil {
		return nil, err
	}
	reapStale(os.TempDir())
	dir, err := os.MkdirTemp("", stackPrefix)
	if err != nil {
		return nil, err
	}
	s := &Stack{Dir: dir, opts: opts, logs: &logBuffer{}}
	fail := func(err error) (*Stack, error) {
		s.Close()
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	if err := writeOwner(dir); err != nil {
		return fail(err)
	}
	ports, err := freePorts(7)
	if err != nil {
		return fail(err)
	}
	s.IMAPPort, s.IMAPSPort, s.LMTPPort, s.SubmissionPort, s.SMTPSPort = ports[0], ports[1], ports[2], ports[3], ports[4]
	s.POP3Port, s.POP3SPort = ports[5], ports[6]
	if s.CA, err = mailtest.NewCA(); err != nil {
		return fail(err)
	}
	if err := s.writeCerts(); err != nil {
		return fail(err)
	}
	if err := s.writeDovecot(); err != nil {
		return fail(err)
	}
	if err := s.writePostfix(); err != nil {
		return fail(err)
	}
	if err := s.StartDovecot(ctx); err != nil {
		return fail(err)
	}
	if err := s.StartPostfix(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

func (s *Stack) path(p ...string) string { return filepath.Join(append([]string{s.Dir}, p...)...) }

// writeCerts writes a certificate of the stack's CA, with its chain, and
// its key as PEM files for Dovecot and Postfix.
func (s *Stack) writeCerts() error {
	cert, err := s.CA.Issue("localhost", "mail.example.test", Host)
	if err != nil {
		return err
	}
	var certPEM []byte
	for _, der := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	if err := os.WriteFile(s.path("cert.pem"), certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(s.path("key.pem"), keyPEM, 0o600)
}

// AddUser adds (or changes) an account and tells Dovecot to reload (it
// caches its passwd-file). Logins may fail for a moment while its auth
// process restarts.
func (s *Stack) AddUser(u User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.opts.Users[:0]
	for _, x := range s.opts.Users {
		if !strings.EqualFold(x.Address, u.Address) {
			kept = append(kept, x)
		}
	}
	s.opts.Users = append(kept, u)
	if err := s.writeUsers(); err != nil {
		return err
	}
	if s.dovecot != nil && s.dovecot.Process != nil {
		return s.dovecot.Process.Signal(syscall.SIGHUP)
	}
	return nil
}

func (s *Stack) writeUsers() error {
	var b strings.Builder
	for _, u := range s.opts.Users {
		if strings.ContainsAny(u.Address+u.Password, ":\n") {
			return fmt.Errorf("mailstack: user %q: ':' and newlines are not allowed", u.Address)
		}
		fmt.Fprintf(&b, "%s:{PLAIN}%s\n", u.Address, u.Password)
	}
	tmp := s.path("dovecot", "users.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.path("dovecot", "users"))
}

func (s *Stack) writeDovecot() error {
	for _, d := range []string{"dovecot/run", "dovecot/state", "mail"} {
		if err := os.MkdirAll(s.path(d), 0o755); err != nil {
			return err
		}
	}
	if out, err := exec.Command("chown", MailUser+":"+MailUser, s.path("mail")).CombinedOutput(); err != nil {
		return fmt.Errorf("mailstack: chown mail dir: %v: %s", err, out)
	}
	if err := s.writeUsers(); err != nil {
		return err
	}
	mechs, oauthPassdb := "plain login", ""
	if u := s.opts.OAuth2IntrospectionURL; u != "" {
		mechs = "plain login xoauth2 oauthbearer"
		ext := fmt.Sprintf("introspection_mode = post\nintrospection_url = %s\nusername_attribute = username\nactive_attribute = active\nactive_value = true\nforce_introspection = yes\ntimeout_msecs = 5000\n", u)
		if err := os.WriteFile(s.path("dovecot", "oauth2.conf.ext"), []byte(ext), 0o644); err != nil {
			return err
		}
		oauthPassdb = fmt.Sprintf("passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s\n}\n", s.path("dovecot", "oauth2.conf.ext"))
	}
	conf := fmt.Sprintf(`protocols = imap lmtp pop3
listen = %[1]s
base_dir = %[2]s/dovecot/run
state_dir = %[2]s/dovecot/state
log_path = %[2]s/dovecot/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
ssl = yes
ssl_cert = <%[2]s/cert.pem
ssl_key = <%[2]s/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = %[8]s
auth_verbose = yes
login_trusted_networks =
mail_location = maildir:~/Maildir
%[9]spassdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[2]s/dovecot/users
}
userdb {
  driver = static
  args = uid=%[7]s gid=%[7]s home=%[2]s/mail/%%d/%%n
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
  }
}
service imap-login {
  inet_listener imap {
    address = %[1]s
    port = %[3]d
  }
  inet_listener imaps {
    address = %[1]s
    port = %[4]d
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = %[1]s
    port = %[10]d
  }
  inet_listener pop3s {
    address = %[1]s
    port = %[11]d
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = %[1]s
    port = %[5]d
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
protocol lmtp {
  postmaster_address = postmaster@%[6]s
}
protocol imap {
  mail_max_userip_connections = 200
}
protocol pop3 {
  mail_max_userip_connections = 200
  pop3_uidl_format = %%08Xu%%08Xv
}
`, Host, s.Dir, s.IMAPPort, s.IMAPSPort, s.LMTPPort, s.opts.Domains[0], MailUser, mechs, oauthPassdb, s.POP3Port, s.POP3SPort)
	return os.WriteFile(s.path("dovecot.conf"), []byte(conf), 0o644)
}

func (s *Stack) writePostfix() error {
	p := s.path("postfix")
	for _, d := range []string{"postfix/queue", "postfix/data"} {
		if err := os.MkdirAll(s.path(d), 0o755); err != nil {
			return err
		}
	}
	if out, err := exec.Command("chown", "postfix", s.path("postfix", "data")).CombinedOutput(); err != nil {
		return fmt.Errorf("mailstack: chown postfix data: %v: %s", err, out)
	}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.%[2]s
mydomain = %[2]s
myorigin = %[2]s
mydestination =
inet_interfaces = %[3]s
inet_protocols = ipv4
maillog_file = /dev/stdout
biff = no
append_dot_mydomain = no
readme_directory = no
smtputf8_enable = no
virtual_mailbox_domains = %[4]s
virtual_transport = lmtp:inet:%[3]s:%[5]d
smtpd_tls_cert_file = %[6]s/cert.pem
smtpd_tls_key_file = %[6]s/key.pem
smtpd_tls_security_level = encrypt
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = %[6]s/dovecot/run/auth-postfix
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_client_connection_count_limit = 0
smtpd_client_message_rate_limit = 0
anvil_rate_time_unit = 60s
lmtp_destination_concurrency_limit = 20
default_destination_concurrency_limit = 20
message_size_limit = 104857600
`, p, s.opts.Domains[0], Host, strings.Join(s.opts.Domains, " "), s.LMTPPort, s.Dir)
	if pp := s.opts.Pipe; pp != nil {
		main += fmt.Sprintf("relay_domains = %[1]s\ntransport_maps = inline:{ %[1]s=correio: }\ncorreio_destination_recipient_limit = 1\n", pp.Domain)
	}
	if err := os.WriteFile(filepath.Join(p, "main.cf"), []byte(main), 0o644); err != nil {
		return err
	}
	master, err := masterCF(fmt.Sprintf("%s:%d", Host, s.SubmissionPort), fmt.Sprintf("%s:%d", Host, s.SMTPSPort))
	if err != nil {
		return err
	}
	if pp := s.opts.Pipe; pp != nil {
		for _, a := range pp.Argv {
			if a == "" || strings.ContainsAny(a, " \t\n") {
				return fmt.Errorf("mailstack: pipe argument %q is empty or has white space", a)
			}
		}
		master += fmt.Sprintf("correio unix - n n - 4 pipe\n  flags=Rq user=%s argv=%s\n", MailUser, strings.Join(pp.Argv, " "))
	}
	return os.WriteFile(filepath.Join(p, "master.cf"), []byte(master), 0o644)
}

// masterCF derives a master.cf from Debian's: no chroot (the temp dir is
// not inside the chroot), the smtp listener moved to our submission port,
// and an implicit-TLS listener added.
func masterCF(submission, smtps string) (string, error) {
	f, err := os.Open("/etc/postfix/master.cf")
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") || len(fields) < 8 {
			b.WriteString(line + "\n")
			continue
		}
		if fields[0] == "smtp" && fields[1] == "inet" {
			fields[0] = submission
		}
		fields[4] = "n"
		b.WriteString(strings.Join(fields, " ") + "\n")
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	b.WriteString(smtps + " inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o smtpd_tls_security_level=encrypt\n")
	return b.String(), nil
}

// StartDovecot starts Dovecot (again) and waits for its listeners.
func (s *Stack) StartDovecot(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dovecot != nil {
		return errors.New("mailstack: dovecot already running")
	}
	cmd := exec.Command(DovecotBin, "-F", "-c", s.path("dovecot.conf"))
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mailstack: start dovecot: %w", err)
	}
	s.dovecot = cmd
	go func() { _ = cmd.Wait() }()
	if err := waitPorts(ctx, s.IMAPPort, s.IMAPSPort, s.LMTPPort, s.POP3Port, s.POP3SPort); err != nil {
		return fmt.Errorf("mailstack: dovecot did not start: %w\n%s", err, s.logTail())
	}
	return nil
}

// StopDovecot stops Dovecot; its listeners refuse connections until
// StartDovecot.
func (s *Stack) StopDovecot() error {
	s.mu.Lock()
	cmd := s.dovecot
	s.dovecot = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	return stopGroup(cmd, s.IMAPPort, s.IMAPSPort, s.LMTPPort, s.POP3Port, s.POP3SPort)
}

// StartPostfix starts Postfix (again) and waits for its listeners.
func (s *Stack) StartPostfix(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.postfix != nil {
		return errors.New("mailstack: postfix already running")
	}
	cmd := exec.Command(PostfixBin, "-c", s.path("postfix"), "start-fg")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mailstack: start postfix: %w", err)
	}
	s.postfix = cmd
	go func() { _ = cmd.Wait() }()
	if err := waitPorts(ctx, s.SubmissionPort, s.SMTPSPort); err != nil {
		return fmt.Errorf("mailstack: postfix did not start: %w\n%s", err, s.logTail())
	}
	return nil
}

// StopPostfix stops Postfix (mail already queued stays in its queue).
func (s *Stack) StopPostfix() error {
	s.mu.Lock()
	cmd := s.postfix
	s.postfix = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = exec.Command(PostfixBin, "-c", s.path("postfix"), "stop").Run()
	return stopGroup(cmd, s.SubmissionPort, s.SMTPSPort)
}

// logTail returns the last lines the servers logged, for an error.
func (s *Stack) logTail() string {
	l := s.Logs()
	if len(l) > 4000 {
		l = "..." + l[len(l)-4000:]
	}
	return l
}

// RestartDovecot stops and starts Dovecot.
func (s *Stack) RestartDovecot(ctx context.Context) error {
	if err := s.StopDovecot(); err != nil {
		return err
	}
	return s.StartDovecot(ctx)
}

// RestartPostfix stops and starts Postfix.
func (s *Stack) RestartPostfix(ctx context.Context) error {
	if err := s.StopPostfix(); err != nil {
		return err
	}
	return s.StartPostfix(ctx)
}

// FlushPostfix asks Postfix to attempt delivery of its deferred mail now.
func (s *Stack) FlushPostfix() error {
	out, err := exec.Command(PostfixBin, "-c", s.path("postfix"), "flush").CombinedOutput()
	if err != nil {
		return fmt.Errorf("mailstack: postfix flush: %v: %s", err, out)
	}
	return nil
}

// Logs returns what the servers logged, for a failing test to print.
func (s *Stack) Logs() string {
	b, _ := os.ReadFile(s.path("dovecot", "dovecot.log"))
	return s.logs.String() + "\n--- dovecot.log ---\n" + string(b)
}

// TLSConfig trusts the stack's CA.
func (s *Stack) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CA.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// Close stops both servers and removes the directory.
func (s *Stack) Close() error {
	errs := []error{s.StopPostfix(), s.StopDovecot()}
	if s.Dir != "" {
		errs = append(errs, os.RemoveAll(s.Dir))
	}
	return errors.Join(errs...)
}

func stopGroup(cmd *exec.Cmd, ports ...int) error {
	if cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !anyListening(ports) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if anyListening(ports) {
		return fmt.Errorf("mailstack: process %d still listening after SIGKILL", cmd.Process.Pid)
	}
	return nil
}

func anyListening(ports []int) bool {
	for _, p := range ports {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(Host, strconv.Itoa(p)), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
	}
	return false
}

func waitPorts(ctx context.Context, ports ...int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, p := range ports {
		for {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(Host, strconv.Itoa(p)), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("mailstack: port %d not listening: %w", p, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", Host+":0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ensureMailUser checks for the system user that owns the test mail;
// scripts/install-mailservers.sh creates it (the tests change nothing
// outside their temp directories).
func ensureMailUser() error {
	if _, err := user.Lookup(MailUser); err != nil {
		return fmt.Errorf("mailstack: system user %q missing (run scripts/install-mailservers.sh): %w", MailUser, err)
	}
	return nil
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 4<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
