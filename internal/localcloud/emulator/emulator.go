// Package emulator launches a local emulator (a child process such as the
// Google Cloud Pub/Sub emulator) on a loopback port and stops it again.
//
// A launch picks a free port in Go (emulators started with port 0 do not say
// which port they took), starts the command in its own process group, waits
// until the port accepts TCP connections and an optional readiness check
// passes, and keeps the last part of the emulator's output in memory (and,
// when asked, in a log file) so that a failure can show what the emulator
// said. Stop kills the whole process group, because wrapper scripts (gcloud
// beta emulators …, gateway_main) leave orphans behind.
//
// The Locate* functions find emulators installed with the Google Cloud SDK;
// adding another emulator means writing one more of them (a Spec).
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReadyFunc reports whether the emulator listening on addr (host:port) is
// ready to serve. It is called only once the port accepts TCP connections,
// and is retried until it returns nil or the start times out.
type ReadyFunc func(ctx context.Context, addr string) error

// Spec describes how to run one emulator.
type Spec struct {
	// Name is a short identifier, used in messages and log file names
	// ("pubsub", "spanner", "bigtable").
	Name string
	// Title is a human-readable name ("Pub/Sub emulator").
	Title string
	// Version of the emulator, when known ("0.8.20").
	Version string
	// Path is the program to execute (for the Pub/Sub emulator: java).
	Path string
	// Artifact is the installed file that is the emulator, when it is not
	// Path itself (for the Pub/Sub emulator: the jar). Informational.
	Artifact string
	// Args returns the command-line arguments that make the emulator listen
	// on host:port.
	Args func(host string, port int) []string
	// Env holds extra KEY=VALUE pairs added to this process's environment.
	Env []string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Ready is an optional readiness check run after the port accepts TCP
	// connections (see HTTPReady and GRPCReady).
	Ready ReadyFunc
}

// String returns the title and version, e.g. "Pub/Sub emulator 0.8.20".
func (s Spec) String() string {
	t := s.Title
	if t == "" {
		t = s.Name
	}
	if s.Version != "" {
		t += " " + s.Version
	}
	return t
}

// Options control one launch.
type Options struct {
	// Host to listen on; default 127.0.0.1.
	Host string
	// Port to listen on; 0 picks a free one.
	Port int
	// LogFile, if set, receives the emulator's stdout and stderr (appended;
	// the directory is created). The last 64 KiB are always kept in memory
	// as well, see Process.Output.
	LogFile string
	// StartTimeout bounds the time until the emulator is ready; default
	// DefaultStartTimeout. The context given to Start bounds it too.
	StartTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL
	// to the process group; default 2s. Emulators keep their state in
	// memory, so there is nothing to lose by being quick.
	StopGrace time.Duration
	// Logger receives debug and info messages; nil discards them.
	Logger *slog.Logger
}

// DefaultStartTimeout is used when Options.StartTimeout is zero. The Java
// Pub/Sub emulator needs about a second on an idle machine and much more on
// a loaded CI runner.
const DefaultStartTimeout = 60 * time.Second

// tailSize is how much of an emulator's output is kept in memory.
const tailSize = 64 << 10

// errorTailLines is how many lines of output a StartError shows.
const errorTailLines = 25

// StartError is returned by Start when the emulator could not be started or
// did not become ready. It unwraps to the cause, so errors.Is(err,
// context.Canceled) and errors.Is(err, context.DeadlineExceeded) work.
type StartError struct {
	Name    string // Spec.Name
	Command string // the command line
	Addr    string // host:port it was to listen on
	Err     error  // what went wrong
	Output  string // the last lines the emulator printed
	LogFile string // Options.LogFile, if any
}

func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "start %s emulator on %s: %v", e.Name, e.Addr, e.Err)
	if e.LogFile != "" {
		fmt.Fprintf(&b, " (log: %s)", e.LogFile)
	}
	switch {
	case e.Command == "": // not started
	case e.Output == "":
		b.WriteString("; it printed nothing")
	default:
		fmt.Fprintf(&b, "\ncommand: %s\n--- last lines of its output ---\n%s\n---", e.Command, e.Output)
	}
	return b.String()
}

func (e *StartError) Unwrap() error { return e.Err }

// Process is a running emulator.
type Process struct {
	spec    Spec
	host    string
	port    int
	cmd     *exec.Cmd
	out     *tailBuffer
	logFile *os.File
	logPath string
	grace   time.Duration
	log     *slog.Logger
	startup time.Duration

	done    chan struct{} // closed when the process has exited and been reaped
	waitErr error         // valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start launches the emulator described by spec and waits until it is ready.
// On failure it stops whatever it started and returns a *StartError that
// includes the last lines of the emulator's output.
//
// When opts.Port is 0 a free port is picked; if the emulator then fails
// because another process took that port in the meantime, Start tries again
// with another port (three attempts in all).
func Start(ctx context.Context, spec Spec, opts Options) (*Process, error) {
	if spec.Path == "" || spec.Args == nil {
		return nil, fmt.Errorf("emulator %q: Spec needs Path and Args", spec.Name)
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	for i := 0; ; i++ {
		port := opts.Port
		if port == 0 {
			p, err := FreePort(host)
			if err != nil {
				return nil, fmt.Errorf("start %s emulator: %w", spec.Name, err)
			}
			port = p
		} else if err := checkPortFree(host, port); err != nil {
			return nil, &StartError{Name: spec.Name, Addr: joinHostPort(host, port), Err: err}
		}
		p, err := start(ctx, spec, opts, host, port)
		if err == nil {
			return p, nil
		}
		var se *StartError
		if i+1 < attempts && ctx.Err() == nil && errors.As(err, &se) && looksLikePortClash(se.Output) {
			continue
		}
		return nil, err
	}
}

func start(ctx context.Context, spec Spec, opts Options, host string, port int) (*Process, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	grace := opts.StopGrace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	addr := joinHostPort(host, port)
	args := spec.Args(host, port)
	cmdline := strings.Join(append([]string{spec.Path}, args...), " ")
	fail := func(err error, output string) error {
		return &StartError{Name: spec.Name, Command: cmdline, Addr: addr, Err: err, Output: output, LogFile: opts.LogFile}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(context.Cause(ctx), "")
	}

	p := &Process{
		spec:    spec,
		host:    host,
		port:    port,
		out:     newTailBuffer(tailSize),
		logPath: opts.LogFile,
		grace:   grace,
		log:     logger.With("emulator", spec.Name, "addr", addr),
		done:    make(chan struct{}),
	}
	var w io.Writer = p.out
	if opts.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(opts.LogFile), 0o755); err != nil {
			return nil, fail(fmt.Errorf("log file: %w", err), "")
		}
		f, err := os.OpenFile(opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fail(fmt.Errorf("log file: %w", err), "")
		}
		fmt.Fprintf(f, "=== %s starting: %s\n", time.Now().Format(time.RFC3339), cmdline)
		p.logFile = f
		w = io.MultiWriter(f, p.out)
	}

	cmd := exec.Command(spec.Path, args...)
	cmd.Stdin = nil
	cmd.Stdout = w // the same writer for both: one pipe, output stays in order
	cmd.Stderr = w
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = sysProcAttr()
	// Orphans that keep the output pipe open must not make Wait hang.
	cmd.WaitDelay = 2 * time.Second
	p.cmd = cmd

	began := time.Now()
	if err := cmd.Start(); err != nil {
		p.closeLog()
		return nil, fail(err, "")
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	p.log.Debug("emulator process started", "pid", cmd.Process.Pid, "command", cmdline)

	sctx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("not ready within %v: %w", timeout, context.DeadlineExceeded))
	defer cancel()
	if err := p.waitReady(sctx, addr); err != nil {
		_ = p.Stop()
		return nil, fail(err, p.out.Lines(errorTailLines))
	}
	p.startup = time.Since(began)
	p.log.Info("emulator ready", "pid", cmd.Process.Pid, "startup", p.startup.Round(time.Millisecond))
	return p, nil
}

func (p *Process) waitReady(ctx context.Context, addr string) error {
	delay := 10 * time.Millisecond
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited before it was ready: %s", exitDescription(p.waitErr))
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 250*time.Millisecond)
		if err == nil {
			conn.Close()
			if p.spec.Ready == nil {
				return nil
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = p.spec.Ready(rctx, addr)
			cancel()
			if err == nil {
				return nil
			}
			err = fmt.Errorf("readiness check: %w", err)
		}
		last = err
		select {
		case <-ctx.Done():
			cause := context.Cause(ctx)
			if last != nil {
				return fmt.Errorf("%w (last check: %v)", cause, last)
			}
			return cause
		case <-p.done:
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// Addr returns host:port.
func (p *Process) Addr() string { return joinHostPort(p.host, p.port) }

// Host returns the host the emulator listens on.
func (p *Process) Host() string { return p.host }

// Port returns the port the emulator listens on.
func (p *Process) Port() int { return p.port }

// PID returns the process id of the emulator, which is also the id of its
// process group.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Spec returns the spec the emulator was started from.
func (p *Process) Spec() Spec { return p.spec }

// StartupTime is how long it took from starting the process until it was
// ready.
func (p *Process) StartupTime() time.Duration { return p.startup }

// LogFile returns Options.LogFile.
func (p *Process) LogFile() string { return p.logPath }

// Output returns the last n lines the emulator printed (n <= 0: all that is
// kept in memory).
func (p *Process) Output(n int) string { return p.out.Lines(n) }

// Exited is closed when the emulator process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Stop terminates the emulator's whole process group: SIGTERM, then after
// Options.StopGrace SIGKILL to whatever is left of the group, and waits
// until the emulator has exited and no member of its group is left (for up
// to a few seconds). It is safe to call more than once and concurrently.
// It returns an error if the emulator had already exited on its own (it
// crashed while in use) or if processes of its group survive.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Process) stop() error {
	defer p.closeLog()
	pgid := p.cmd.Process.Pid
	var errs []error
	select {
	case <-p.done:
		errs = append(errs, fmt.Errorf("%s emulator had exited on its own: %s", p.spec.Name, exitDescription(p.waitErr)))
	default:
	}
	_ = signalGroup(pgid, sigTerm)
	select {
	case <-p.done:
	case <-time.After(p.grace):
		p.log.Debug("emulator ignored SIGTERM, killing it")
	}
	// Always: the leader may be gone while orphans of its group live on.
	_ = signalGroup(pgid, sigKill)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		errs = append(errs, fmt.Errorf("%s emulator (pid %d) did not exit after SIGKILL", p.spec.Name, pgid))
	}
	if left := WaitGroupGone(pgid, 3*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("%s emulator: processes of group %d still running after SIGKILL: %v", p.spec.Name, pgid, left))
	}
	p.log.Debug("emulator stopped")
	return errors.Join(errs...)
}

func (p *Process) closeLog() {
	if p.logFile != nil {
		p.logFile.Close()
	}
}

// FreePort returns a TCP port on host that was free a moment ago.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", joinHostPort(host, 0))
	if err != nil {
		return 0, fmt.Errorf("pick a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func checkPortFree(host string, port int) error {
	l, err := net.Listen("tcp", joinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("port %d on %s is not available: %w", port, host, err)
	}
	return l.Close()
}

func looksLikePortClash(output string) bool {
	o := strings.ToLower(output)
	return strings.Contains(o, "address already in use") || strings.Contains(o, "bindexception") ||
		strings.Contains(o, "failed to bind")
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func exitDescription(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
