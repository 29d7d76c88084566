// Package pgtest starts throwaway PostgreSQL servers: for tests, and for
// anything else that needs a real, local, disposable PostgreSQL (the
// postgres.infraplane.dev kinds of the local cloud, later).
//
// # What Start does
//
//  1. Finds the server binaries (FindBinDir): $INFRAPLANE_PG_BIN, then
//     /usr/lib/postgresql/<newest>/bin, then `pg_config --bindir`, then
//     initdb and postgres on PATH.
//  2. Makes a temporary directory (os.TempDir()/infraplane-pgtest-*) and
//     runs initdb in it (UTF8, locale C, no fsync). initdb and postgres
//     refuse to run as root: when this process is root they run as the
//     `postgres` OS user ($INFRAPLANE_PG_USER overrides), who is given the
//     directory.
//  3. Starts `postgres -D DIR/data -p PORT -k DIR -c listen_addresses=127.0.0.1
//     -c fsync=off` (Options.Fsync turns fsync back on) in its own process
//     group, on a free port (picked in Go; tried again on a port clash), and
//     waits until it accepts a connection.
//
// The superuser is "postgres", with a random password over TCP (SCRAM);
// over the Unix socket in the directory it is trusted, for psql:
// `psql -h DIR -p PORT -U postgres`. CreateDatabase makes a database owned
// by a new role with its own password and returns its DSN, so clients are
// tested with password authentication, as against a real server.
//
// Stop sends SIGQUIT (an immediate shutdown: the server removes its shared
// memory and exits without a checkpoint), kills what is left of the
// process group, and removes the directory. If the process that started
// the server dies without calling Stop (a panic, a test binary killed by
// -timeout), the kernel sends the server SIGQUIT (Linux: parent-death
// signal) and the next Start removes the directory left behind.
//
// # In tests
//
// New(t) starts a server for one test and stops it in t.Cleanup (cleanups
// run even when the test panics). Most tests need a database, not a server:
// Database(t) creates one on the test binary's shared server and drops it
// after the test. The shared server is started lazily, the first time a
// test asks (Shared), so a test binary that runs no database test starts
// nothing; stop it from TestMain:
//
//	func TestMain(m *testing.M) {
//		m.Run()
//		pgtest.StopShared()
//	}
//
// (Without it the parent-death signal stops the server when the test binary
// exits, and its directory stays until the next Start.)
//
// When no PostgreSQL can be run here (binaries missing, root without a
// postgres user, not a Unix system) the test is skipped with the reason;
// under CI (env CI=true) it fails instead: see cloudtest.Unavailable.
// Start (initdb, start, first connection) takes 0.5–1.9 s on the
// development machine (2 vCPU VM, PostgreSQL 15, other builds running),
// initdb being 90 % of it; Server.StartTime has it, and New and Shared log
// it.
package pgtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrUnavailable is wrapped by Start's error when no PostgreSQL server can
// be run here: the binaries are not installed, this process is root and
// there is no user to run them as, or the system is not Unix.
var ErrUnavailable = errors.New("PostgreSQL server unavailable")

// Environment variables.
const (
	// EnvBin names the directory holding initdb and postgres.
	EnvBin = "INFRAPLANE_PG_BIN"
	// EnvUser names the OS user the server runs as when this process is
	// root (default "postgres").
	EnvUser = "INFRAPLANE_PG_USER"
)

// Superuser is the server's superuser role.
const Superuser = "postgres"

// DefaultStartTimeout bounds Start when Options.StartTimeout is zero.
const DefaultStartTimeout = 60 * time.Second

// Options control Start.
type Options struct {
	// BinDir holds initdb and postgres; empty: FindBinDir.
	BinDir string
	// Fsync keeps fsync on (the server's default). Off by default: a
	// throwaway server need not survive a power cut, and tests run faster.
	Fsync bool
	// Params are more server settings, name → value (-c name=value).
	Params map[string]string
	// StartTimeout bounds initdb and the start; default DefaultStartTimeout.
	StartTimeout time.Duration
}

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// BinDir holds the binaries it runs; Version is `postgres --version`'s
	// version ("15.14").
	BinDir, Version string
	// Host and Port are where it listens for TCP (127.0.0.1).
	Host string
	Port int
	// Dir is its temporary directory, removed by Stop; the Unix socket is
	// in Dir, the data directory is Dir/data and the log Dir/postgres.log.
	Dir string
	// InitTime is how long initdb took; StartTime how long Start took in
	// all (initdb, start, first connection).
	InitTime, StartTime time.Duration

	password string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the postmaster has exited
	waitErr  error         // cmd.Wait's, once done is closed

	stopOnce sync.Once
	stopErr  error
}

// ownerFile, in a server's directory, holds the pid of the process that
// started the server: sweep removes directories whose owner is gone.
const ownerFile = "owner.pid"

// dirPattern names servers' directories in os.TempDir().
const dirPattern = "infraplane-pgtest-*"

// Start starts a server. Its error wraps ErrUnavailable when no server can
// be run here; other errors show what initdb or the server printed.
func Start(ctx context.Context, opts Options) (*Server, error) {
	begin := time.Now()
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	if !supported {
		return nil, fmt.Errorf("%w: pgtest runs PostgreSQL on Unix systems only", ErrUnavailable)
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	sweepOnce.Do(sweep)

	s := &Server{BinDir: bin, Host: "127.0.0.1", done: make(chan struct{})}
	if s.Version, err = serverVersion(ctx, bin); err != nil {
		return nil, err
	}
	if s.Dir, err = os.MkdirTemp("", dirPattern); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(s.Dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(s.Dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := cred.give(s.Dir); err != nil {
		return nil, fmt.Errorf("pgtest: giving %s to the server's user: %w", s.Dir, err)
	}

	// initdb, with the superuser's password in a file only it reads.
	s.password = randomHex(16)
	pwfile := filepath.Join(s.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := cred.give(pwfile); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	t0 := time.Now()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", filepath.Join(s.Dir, "data"), "-U", Superuser, "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Env = serverEnv()
	initdb.Dir = s.Dir
	initdb.SysProcAttr = cred.attr(false)
	if out, err := initdb.CombinedOutput(); err != nil {
		hint := ""
		if cred.set {
			hint = fmt.Sprintf(" (it runs as user %s, who must be able to reach %s: set TMPDIR to a directory it can)", cred.name, s.Dir)
		}
		return nil, fmt.Errorf("pgtest: initdb failed%s: %v\n%s", hint, err, lastLines(out, 25))
	}
	s.InitTime = time.Since(t0)
	os.Remove(pwfile)

	// The server, on a free port; another process may take the port
	// between our check and the server's bind: then try another.
	for attempt := 1; ; attempt++ {
		err := s.start(ctx, cred, opts)
		if err == nil {
			break
		}
		if attempt < 3 && ctx.Err() == nil && portClash(s.log()) {
			s.done = make(chan struct{})
			continue
		}
		return nil, err
	}
	s.StartTime = time.Since(begin)
	ok = true
	return s, nil
}

// start starts the postmaster on a free port and waits until it accepts a
// connection.
func (s *Server) start(ctx context.Context, cred *credential, opts Options) error {
	port, err := freePort(s.Host)
	if err != nil {
		return err
	}
	s.Port = port
	fsync := "off"
	if opts.Fsync {
		fsync = "on"
	}
	args := []string{"-D", filepath.Join(s.Dir, "data"), "-p", strconv.Itoa(port), "-k", s.Dir,
		"-c", "listen_addresses=" + s.Host, "-c", "fsync=" + fsync}
	names := make([]string, 0, len(opts.Params))
	for k := range opts.Params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+opts.Params[k])
	}
	logf, err := os.OpenFile(s.logPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close() // the server has its own copy
	cmd := exec.Command(filepath.Join(s.BinDir, "postgres"), args...)
	cmd.Env = serverEnv()
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = cred.attr(true)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	s.cmd = cmd
	done := s.done
	go func() {
		s.waitErr = cmd.Wait()
		close(done)
	}()

	begin := time.Now()
	// Ready when a connection succeeds (the server refuses them with
	// "the database system is starting up" for a moment first).
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.AdminDSN(Superuser))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		last = err
		select {
		case <-done:
			return fmt.Errorf("pgtest: postgres exited during start (%v):\n%s", s.waitErr, s.log())
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("pgtest: postgres not ready after %s (last: %v): %w\n%s", time.Since(begin).Round(time.Millisecond), last, ctx.Err(), s.log())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// AdminDSN is the superuser's DSN for database db, over TCP with its
// password.
func (s *Server) AdminDSN(db string) string {
	return s.dsn(Superuser, s.password, db)
}

func (s *Server) dsn(role, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(role, password),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

var validName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateDatabase creates a role name (LOGIN, with a random password) and
// a database name owned by it, and returns the DSN to connect as that
// role: postgres://name:PASSWORD@127.0.0.1:PORT/name?sslmode=disable. name
// is lower-case letters, digits and underscores.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("pgtest: database name %q: use a-z, 0-9 and _, at most 63", name)
	}
	password := randomHex(16)
	err := s.admin(ctx,
		// CREATE ROLE and CREATE DATABASE take no bind parameters: quote
		// on the server.
		[]string{"SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)", name, password},
		[]string{"SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $1::text)", name},
	)
	if err != nil {
		return "", fmt.Errorf("pgtest: creating database %s: %w", name, err)
	}
	return s.dsn(name, password, name), nil
}

// DropDatabase drops the database name (closing its connections) and its
// role.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	err := s.admin(ctx,
		[]string{"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)", name},
		[]string{"SELECT format('DROP ROLE IF EXISTS %I', $1::text)", name},
	)
	if err != nil {
		return fmt.Errorf("pgtest: dropping database %s: %w", name, err)
	}
	return nil
}

// admin runs statements as the superuser: each is a query, and its
// arguments, that returns the statement to execute.
func (s *Server) admin(ctx context.Context, stmts ...[]string) error {
	conn, err := pgx.Connect(ctx, s.AdminDSN(Superuser))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, st := range stmts {
		args := make([]any, len(st)-1)
		for i, a := range st[1:] {
			args[i] = a
		}
		var sql string
		if err := conn.QueryRow(ctx, st[0], args...).Scan(&sql); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

// PID is the postmaster's process id (and its process group's).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Exited is closed when the postmaster has exited.
func (s *Server) Exited() <-chan struct{} { return s.done }

func (s *Server) logPath() string { return filepath.Join(s.Dir, "postgres.log") }

// Log returns the last lines of the server's log.
func (s *Server) Log() string {
	return s.log()
}

func (s *Server) log() string {
	b, _ := os.ReadFile(s.logPath())
	return lastLines(b, 40)
}

// Stop stops the server (an immediate shutdown), kills whatever is left of
// its process group and removes its directory. It is idempotent and safe
// to call concurrently. It returns an error if the server had exited on
// its own before, or if its processes survive.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	select {
	case <-s.done:
		errs = append(errs, fmt.Errorf("pgtest: postgres had exited on its own (%v):\n%s", s.waitErr, s.log()))
	default:
	}
	pgid := s.PID()
	_ = signalGroupLeader(pgid, sigQuit) // immediate shutdown
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	if err := s.kill(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: %w", err))
	}
	return errors.Join(errs...)
}

// kill kills the process group and waits for it to be gone.
func (s *Server) kill() error {
	pgid := s.PID()
	_ = signalGroup(pgid, sigKill)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("pgtest: postgres (pid %d) did not exit after SIGKILL", pgid)
	}
	if left := waitGroupGone(pgid, 3*time.Second); len(left) > 0 {
		return fmt.Errorf("pgtest: processes of group %d still running after SIGKILL: %v", pgid, left)
	}
	return nil
}

// FindBinDir returns the directory holding initdb and postgres:
// $INFRAPLANE_PG_BIN (which must hold them), else the newest
// /usr/lib/postgresql/<version>/bin, else `pg_config --bindir`, else the
// directory of postgres on PATH. Its error wraps ErrUnavailable and lists
// where it looked.
func FindBinDir() (string, error) {
	if dir := os.Getenv(EnvBin); dir != "" {
		if hasServer(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%s=%s holds no initdb and postgres executables", EnvBin, dir)
	}
	var looked []string
	// Debian and Ubuntu: /usr/lib/postgresql/15/bin; newest first.
	dirs, _ := filepath.Glob(debianBinDirs)
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, dir := range dirs {
		if hasServer(dir) {
			return dir, nil
		}
	}
	looked = append(looked, debianBinDirs)
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasServer(dir) {
			return dir, nil
		}
	}
	looked = append(looked, "pg_config --bindir")
	if p, err := exec.LookPath("postgres"); err == nil {
		if dir := filepath.Dir(p); hasServer(dir) {
			return dir, nil
		}
	}
	looked = append(looked, "PATH")
	return "", fmt.Errorf("%w: no PostgreSQL server binaries (initdb, postgres) in %s; install them (Debian/Ubuntu: apt-get install postgresql) or set %s",
		ErrUnavailable, strings.Join(looked, ", "), EnvBin)
}

// debianBinDirs is where Debian and Ubuntu install server binaries.
var debianBinDirs = "/usr/lib/postgresql/*/bin"

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionOf is the major version in /usr/lib/postgresql/<v>/bin, 0 if none.
func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func serverVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("pgtest: %s --version: %w", filepath.Join(bin, "postgres"), err)
	}
	// "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
	f := strings.Fields(string(out))
	if len(f) >= 3 {
		return f[2], nil
	}
	return strings.TrimSpace(string(out)), nil
}

// serverEnv is this process's environment without PG* variables (PGDATA,
// PGPORT… would change what the server does) and with the C locale.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C", "LC_ALL=C")
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: picking a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portClash(log string) bool {
	return strings.Contains(log, "could not bind") || strings.Contains(log, "Address already in use")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// credential is who the server runs as: this process's user unless set.
type credential struct {
	uid, gid int
	name     string
	set      bool // run as uid/gid (this process is root)
}

// runAs decides who runs initdb and postgres: this process's user, or,
// when that is root (which both refuse), the postgres user.
func runAs() (*credential, error) {
	if os.Geteuid() != 0 {
		return &credential{}, nil
	}
	name := os.Getenv(EnvUser)
	if name == "" {
		name = "postgres"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w: running as root, and initdb and postgres refuse root; no user %q to run them as (%v): create it or set %s",
			ErrUnavailable, name, err, EnvUser)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: user %s has no numeric uid/gid", ErrUnavailable, name)
	}
	if uid == 0 {
		return nil, fmt.Errorf("%w: user %s is root", ErrUnavailable, name)
	}
	return &credential{uid: uid, gid: gid, name: name, set: true}, nil
}

// give makes path the server user's.
func (c *credential) give(path string) error {
	if !c.set {
		return nil
	}
	return os.Chown(path, c.uid, c.gid)
}

var sweepOnce sync.Once

// sweep removes the directories of servers whose starting process and
// postmaster are both gone (the process died without Stop). Directories
// of live processes, or without an owner file yet, are left alone.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPattern))
	for _, dir := range dirs {
		owner, err := readPID(filepath.Join(dir, ownerFile))
		if err != nil || owner == os.Getpid() || processAlive(owner) {
			continue
		}
		// postmaster.pid: its first line is the postmaster's pid.
		if pm, err := readPID(filepath.Join(dir, "data", "postmaster.pid")); err == nil && processAlive(pm) {
			continue
		}
		os.RemoveAll(dir)
	}
}

func readPID(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, errors.New("empty")
	}
	return strconv.Atoi(string(bytes.TrimSpace(sc.Bytes())))
}
