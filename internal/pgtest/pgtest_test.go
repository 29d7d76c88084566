package pgtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestMain(m *testing.M) {
	switch os.Getenv("PGTEST_HELPER") {
	case "":
	case "exit":
		// A test binary that exits without StopShared: the server must
		// go with it.
		helperExit()
		return
	}
	m.Run()
	StopShared()
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartStop(t *testing.T) {
	s := New(t, Options{})
	if s.StartTime <= 0 || s.InitTime <= 0 || s.InitTime > s.StartTime {
		t.Errorf("times: start %v init %v", s.StartTime, s.InitTime)
	}
	ctx := context.Background()

	// The superuser, with its password over TCP.
	conn := connect(t, s.AdminDSN("postgres"))
	var fsync, version string
	if err := conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('server_version')").Scan(&fsync, &version); err != nil {
		t.Fatal(err)
	}
	if fsync != "off" || !strings.HasPrefix(version, s.Version) {
		t.Errorf("fsync %s, version %s (Version %s)", fsync, version, s.Version)
	}

	// A database of its own, with a password-authenticated owner.
	dsn, err := s.CreateDatabase(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dsn, "postgres://app:") || !strings.Contains(dsn, "/app?sslmode=disable") {
		t.Errorf("DSN %s", dsn)
	}
	app := connect(t, dsn)
	if _, err := app.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	var user, db string
	if err := app.QueryRow(ctx, "SELECT current_user, current_database()").Scan(&user, &db); err != nil || user != "app" || db != "app" {
		t.Fatalf("as %q in %q: %v", user, db, err)
	}
	// A wrong password is refused: authentication is real.
	bad := strings.Replace(dsn, "app:", "app:wrong", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	} else if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Errorf("wrong password: %v", err)
	}
	app.Close(ctx)
	if err := s.DropDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDatabase(ctx, "No-Such Name"); err == nil {
		t.Error("an invalid name was accepted")
	}

	// psql over the Unix socket, trusted.
	out, err := exec.Command(filepath.Join(s.BinDir, "psql"), "-h", s.Dir, "-p", strconv.Itoa(s.Port), "-U", "postgres", "-Atc", "SELECT 40+2").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Errorf("psql over the socket: %v %s", err, out)
	}

	// Stop: the whole group is gone, and the directory too.
	conn.Close(ctx)
	pid := s.PID()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := waitGroupGone(pid, 0); len(left) > 0 {
		t.Errorf("processes left in group %d: %v", pid, left)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("directory left: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestFsyncOption(t *testing.T) {
	s := New(t, Options{Fsync: true, Params: map[string]string{"max_connections": "20"}})
	conn := connect(t, s.AdminDSN("postgres"))
	var fsync, maxConn string
	if err := conn.QueryRow(context.Background(), "SELECT current_setting('fsync'), current_setting('max_connections')").Scan(&fsync, &maxConn); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" || maxConn != "20" {
		t.Errorf("fsync %s, max_connections %s", fsync, maxConn)
	}
}

func TestShared(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatal("two shared servers")
	}
	d1, d2 := Database(t), Database(t)
	if d1 == d2 {
		t.Fatal("the same database twice")
	}
	for _, dsn := range []string{d1, d2} {
		c := connect(t, dsn)
		if _, err := c.Exec(context.Background(), "CREATE TABLE mine (x int)"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindBinDir(t *testing.T) {
	t.Run("override", func(t *testing.T) {
		empty := t.TempDir()
		t.Setenv(EnvBin, empty)
		_, err := FindBinDir()
		if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), EnvBin) {
			t.Fatalf("a wrong %s must be an error, not a skip: %v", EnvBin, err)
		}
	})
	t.Run("nothing installed", func(t *testing.T) {
		t.Setenv(EnvBin, "")
		t.Setenv("PATH", t.TempDir())
		old := debianBinDirs
		debianBinDirs = filepath.Join(t.TempDir(), "*", "bin")
		defer func() { debianBinDirs = old }()
		_, err := FindBinDir()
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), EnvBin) {
			t.Fatalf("FindBinDir: %v", err)
		}
		if _, err := Start(context.Background(), Options{}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Start: %v", err)
		}
	})
	t.Run("installed", func(t *testing.T) {
		dir, err := FindBinDir()
		if errors.Is(err, ErrUnavailable) {
			t.Skip(err)
		}
		if err != nil || !hasServer(dir) {
			t.Fatalf("%s: %v", dir, err)
		}
		t.Setenv(EnvBin, dir)
		if got, err := FindBinDir(); got != dir || err != nil {
			t.Fatalf("with %s: %s %v", EnvBin, got, err)
		}
	})
}

// A test that panics still stops its server (t.Cleanup runs), and a test
// binary that exits without StopShared takes the shared server with it
// (the parent-death signal); the next Start removes its directory.
func TestNoServerOutlivesItsTest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers in child test binaries")
	}
	Shared(t) // skip (or fail under CI) here when unavailable
	for _, mode := range []string{"panic", "exit"} {
		t.Run(mode, func(t *testing.T) {
			info := filepath.Join(t.TempDir(), "server")
			args := []string{"-test.run=^TestHelperPanic$", "-test.count=1"}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), "PGTEST_HELPER="+mode, "PGTEST_INFO="+info)
			out, err := cmd.CombinedOutput()
			if mode == "panic" && (err == nil || !strings.Contains(string(out), "helper panics")) {
				t.Fatalf("helper did not panic: %v\n%s", err, out)
			}
			if mode == "exit" && err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			b, rerr := os.ReadFile(info)
			if rerr != nil {
				t.Fatalf("helper wrote nothing (%v):\n%s", rerr, out)
			}
			f := strings.Fields(string(b))
			pid, _ := strconv.Atoi(f[0])
			dir := f[1]
			if left := waitGroupGone(pid, 10*time.Second); len(left) > 0 {
				t.Fatalf("server processes outlived the test binary: %v", left)
			}
			_, err = os.Stat(dir)
			switch mode {
			case "panic": // Stop ran: removed
				if !os.IsNotExist(err) {
					t.Errorf("directory left after a panic: %v", err)
				}
			case "exit": // left behind, swept by the next Start
				if err != nil {
					t.Fatalf("directory: %v", err)
				}
				sweep()
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("sweep left %s: %v", dir, err)
				}
			}
		})
	}
}

func writeInfo(s *Server) {
	os.WriteFile(os.Getenv("PGTEST_INFO"), []byte(strconv.Itoa(s.PID())+" "+s.Dir+"\n"), 0o644)
}

// TestHelperPanic runs in a child test binary only.
func TestHelperPanic(t *testing.T) {
	if os.Getenv("PGTEST_HELPER") != "panic" {
		t.Skip("helper for TestNoServerOutlivesItsTest")
	}
	writeInfo(New(t, Options{}))
	panic("helper panics")
}

func helperExit() {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		println(err.Error())
		os.Exit(2)
	}
	writeInfo(s)
	os.Exit(0)
}
