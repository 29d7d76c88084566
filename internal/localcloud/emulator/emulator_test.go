package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/localcloud/emulator"
)

// The test binary doubles as a fake emulator, see fakeEmulator.
const helperEnv = "EMULATOR_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		fakeEmulator()
		return
	}
	os.Exit(m.Run())
}

// fakeEmulator listens on the port given as --port=N after leaving an orphan
// (a "sleep" child it never waits for) and ignoring SIGTERM, like the worst
// emulator wrappers.
func fakeEmulator() {
	signal.Ignore(syscall.SIGTERM)
	port := strings.TrimPrefix(os.Args[len(os.Args)-1], "--port=")
	orphan := exec.Command("sleep", "300")
	if err := orphan.Start(); err != nil {
		fmt.Println("cannot start orphan:", err)
		os.Exit(2)
	}
	fmt.Printf("orphan pid %d\n", orphan.Process.Pid)
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(2)
	}
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		c.Close()
	}
}

func helperSpec(t *testing.T) emulator.Spec {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return emulator.Spec{
		Name: "fake",
		Path: exe,
		Args: func(host string, port int) []string { return []string{"--port=" + strconv.Itoa(port)} },
		Env:  []string{helperEnv + "=1"},
	}
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func TestStopKillsProcessGroup(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep program")
	}
	logFile := filepath.Join(t.TempDir(), "fake.log")
	p, err := emulator.Start(context.Background(), helperSpec(t), emulator.Options{
		LogFile:   logFile,
		StopGrace: 200 * time.Millisecond, // it ignores SIGTERM: exercise SIGKILL
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	var orphan int
	deadline := time.Now().Add(5 * time.Second)
	for orphan == 0 && time.Now().Before(deadline) {
		fmt.Sscanf(p.Output(0), "orphan pid %d", &orphan)
		time.Sleep(10 * time.Millisecond)
	}
	if orphan == 0 || !alive(orphan) {
		t.Fatalf("orphan not running; output:\n%s", p.Output(0))
	}
	if !accepts(p.Addr()) {
		t.Fatalf("%s does not accept connections after Start", p.Addr())
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if accepts(p.Addr()) {
		t.Errorf("%s still accepts connections after Stop", p.Addr())
	}
	if alive(p.PID()) {
		t.Errorf("emulator pid %d still alive", p.PID())
	}
	if alive(orphan) {
		t.Errorf("orphan pid %d (same process group) still alive", orphan)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	b, _ := os.ReadFile(logFile)
	if !strings.Contains(string(b), "listening") {
		t.Errorf("log file lacks the output: %q", b)
	}
}

func TestStartFailureShowsOutput(t *testing.T) {
	spec := emulator.Spec{
		Name: "broken",
		Path: "/bin/sh",
		Args: func(string, int) []string {
			return []string{"-c", "for i in $(seq 1 40); do echo noise $i; done; echo 'fatal: cannot frobnicate' >&2; exit 3"}
		},
	}
	_, err := emulator.Start(context.Background(), spec, emulator.Options{})
	var se *emulator.StartError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *StartError", err)
	}
	msg := err.Error()
	for _, want := range []string{"exited before it was ready", "exit status 3", "fatal: cannot frobnicate", "noise 40"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "noise 1\n") {
		t.Errorf("error should show only the last lines:\n%s", msg)
	}
}

func TestStartTimeoutAndCancel(t *testing.T) {
	spec := emulator.Spec{
		Name: "sleepy",
		Path: "/bin/sh",
		Args: func(string, int) []string { return []string{"-c", "echo 'still warming up'; sleep 30; echo never"} },
	}
	t.Run("timeout", func(t *testing.T) {
		began := time.Now()
		_, err := emulator.Start(context.Background(), spec, emulator.Options{StartTimeout: 300 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), "still warming up") || !strings.Contains(err.Error(), "not ready within 300ms") {
			t.Errorf("error message: %v", err)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("Start took %v", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		_, err := emulator.Start(ctx, spec, emulator.Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
	})
}

func TestFixedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = emulator.Start(context.Background(), helperSpec(t), emulator.Options{Port: port})
	if err == nil || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("err = %v, want port not available", err)
	}
}

func TestLocateNotInstalled(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(emulator.EnvSDKRoot, dir)
	for name, locate := range map[string]func() (emulator.Spec, error){
		"pubsub": emulator.LocatePubSub, "spanner": emulator.LocateSpanner, "bigtable": emulator.LocateBigtable,
	} {
		_, err := locate()
		if !errors.Is(err, emulator.ErrNotInstalled) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: err = %v, want not installed, naming %s", name, err, dir)
		}
	}
	_, err := emulator.LocatePubSub()
	t.Logf("message: %v", err)
	if !strings.Contains(err.Error(), "cloud-pubsub-emulator-*-all.jar") {
		t.Errorf("message should say what was looked for: %v", err)
	}
}

// processesWith lists live pids whose command line contains all of parts.
func processesWith(parts ...string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(cmd, p)
		}
		if ok && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestInstalledEmulators(t *testing.T) {
	for _, tc := range []struct {
		name   string
		locate func() (emulator.Spec, error)
	}{
		{"pubsub", emulator.LocatePubSub},
		{"spanner", emulator.LocateSpanner},
		{"bigtable", emulator.LocateBigtable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := tc.locate()
			if err != nil {
				cloudtest.Unavailable(t, "%v", err)
			}
			began := time.Now()
			p, err := emulator.Start(context.Background(), spec, emulator.Options{
				LogFile: filepath.Join(t.TempDir(), tc.name+".log"),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Stop() })
			t.Logf("%s (%s %s) ready at %s in %v (Start returned after %v)", spec, spec.Path, spec.Artifact,
				p.Addr(), p.StartupTime().Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
			portArg := strconv.Itoa(p.Port())
			if got := processesWith(spec.Path, portArg); len(got) == 0 {
				t.Errorf("no process running %s with port %s", spec.Path, portArg)
			}
			if err := p.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if accepts(p.Addr()) {
				t.Errorf("%s still accepts connections after Stop", p.Addr())
			}
			if got := processesWith(spec.Path, portArg); len(got) > 0 {
				t.Errorf("processes left after Stop: %v", got)
			}
		})
	}
}
