// Package pgtest starts a private PostgreSQL server for tests: initdb in a
// temporary directory, a free loopback port, the unix socket in the same
// directory, and settings that trade durability for speed (fsync, full page
// writes and synchronous commit off). The server is started once per test
// binary; every test gets its own fresh database.
//
// The Postgres tests are not optional: when the PostgreSQL binaries are
// missing, Database fails the test and says how to install them
// (apt-get install -y postgresql). A developer without PostgreSQL may set
// CORREIO_SKIP_POSTGRES=1, and the tests then skip with a loud message.
//
// Use it from a package's TestMain so the server stops when the tests end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Database(t) // postgres://postgres@127.0.0.1:port/db...
//		...
//	}
//
// PostgreSQL refuses to run as root. When the tests run as root, the server
// runs as the system user "postgres" (created with useradd when missing),
// which owns the temporary directory.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SkipEnv is the variable a developer sets to 1 to skip the Postgres tests.
const SkipEnv = "CORREIO_SKIP_POSTGRES"

// BinEnv may name the directory holding initdb and postgres.
const BinEnv = "CORREIO_PG_BIN"

// InstallHint is the message of a test failing because PostgreSQL is missing.
const InstallHint = "PostgreSQL binaries not found (looked in $" + BinEnv + " and /usr/lib/postgresql/*/bin): install them with `apt-get install -y postgresql` (or run scripts/ci-deps.sh), or set " + SkipEnv + "=1 to skip the Postgres tests explicitly"

// Server is a running private PostgreSQL.
type Server struct {
	// Dir is the temporary directory holding the data and the socket.
	Dir  string
	Port int
	// User is the database superuser (trust authentication on loopback).
	User string

	cmd  *exec.Cmd
	done chan struct{}
	log  string
	seq  atomic.Int64
}

// Options tune Start.
type Options struct {
	// BinDir holds initdb and postgres; found automatically when empty.
	BinDir string
	// Settings are extra "-c name=value" settings.
	Settings map[string]string
}

// BinDir returns the directory of the PostgreSQL binaries, or "" when none
// is installed.
func BinDir() string {
	if d := os.Getenv(BinEnv); d != "" {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
		return ""
	}
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/postgres"); err == nil {
		return "/usr/lib/postgresql/15/bin"
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi > vj
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[0])
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// Start runs initdb and starts a server. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.BinDir
	if bin == "" {
		bin = BinDir()
	}
	if bin == "" {
		return nil, errors.New("pgtest: " + InstallHint)
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "correio-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, User: "postgres", log: filepath.Join(dir, "postgres.log")}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("pgtest: chown %s: %w", dir, err))
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", s.User,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w\n%s", err, out))
	}
	for attempt := 0; ; attempt++ {
		err := s.start(ctx, bin, data, cred, opts.Settings)
		if err == nil {
			return s, nil
		}
		if attempt == 2 || ctx.Err() != nil {
			return fail(err)
		}
	}
}

func (s *Server) start(ctx context.Context, bin, data string, cred *syscall.Credential, extra map[string]string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", s.Dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB",
		"-c", "log_min_messages=warning", "-c", "logging_collector=off",
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+extra[k])
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig stops the server if the test binary dies without Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	ready, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ready, s.DSN("postgres"))
		if err == nil {
			conn.Close(ready)
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("pgtest: postgres exited during start-up:\n%s", s.logTail())
		case <-ready.Done():
			s.kill()
			return fmt.Errorf("pgtest: postgres not ready after 30s: %v\n%s", err, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// SIGQUIT: immediate shutdown, fine for throwaway data.
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	s.kill()
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

// DSN returns the connection string of database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", s.User, s.Port, db)
}

// CreateDatabase creates a fresh database (from template0) and returns its
// name.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.seq.Add(1))
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return name, nil
}

// DropDatabase drops a database, disconnecting its sessions.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
	sharedMu   sync.Mutex
)

// Shared returns the server of this test binary, starting it on first use.
// It fails t when PostgreSQL is missing, and skips t (loudly) only when
// CORREIO_SKIP_POSTGRES=1.
func Shared(t testing.TB) *Server {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Log("!!! " + SkipEnv + "=1: the PostgreSQL tests are NOT running; CI must run them")
		t.Skip("SKIP: PostgreSQL tests skipped because " + SkipEnv + "=1")
	}
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s, err := Start(ctx, Options{})
		sharedMu.Lock()
		shared, sharedErr = s, err
		sharedMu.Unlock()
	})
	if sharedErr != nil {
		t.Fatalf("%v", sharedErr)
	}
	return shared
}

// Database returns the DSN of a fresh database on the shared server, dropped
// when t ends.
func Database(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.DropDatabase(ctx, name); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

// Main runs the tests and stops the shared server afterwards. Call it from
// TestMain.
func Main(m *testing.M) {
	if os.Getenv(SkipEnv) == "1" {
		fmt.Fprintln(os.Stderr, "pgtest: WARNING: "+SkipEnv+"=1, the PostgreSQL tests of this package are SKIPPED (CI must run them)")
	}
	code := m.Run()
	sharedMu.Lock()
	s := shared
	sharedMu.Unlock()
	s.Stop()
	os.Exit(code)
}

// credential returns the user the server runs as: nil (the current user)
// unless the tests run as root, then the "postgres" system user, created
// when missing.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		out, uerr := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
		if uerr != nil {
			return nil, fmt.Errorf("pgtest: running as root and no \"postgres\" user; useradd failed: %v: %s", uerr, strings.TrimSpace(string(out)))
		}
		if u, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: bad uid/gid for postgres: %s/%s", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Durable starts a private server with PostgreSQL's durable defaults
// (fsync, synchronous_commit and full_page_writes on, unlike Shared's), so
// a benchmark pays the WAL flush of every commit. It is stopped when tb
// ends; tb is skipped when PostgreSQL is not installed.
func Durable(tb testing.TB) *Server {
	tb.Helper()
	if BinDir() == "" {
		tb.Skip("PostgreSQL not installed: " + InstallHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Settings: map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}
