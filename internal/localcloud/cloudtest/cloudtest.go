// Package cloudtest starts a localcloud.Cloud for tests of any package.
//
// Rule for missing tools: a test that needs an installed emulator (or
// gcloud, java, …) is skipped when it is missing, except under CI (env
// CI=true), where the CI image is expected to have everything and a missing
// tool is a test failure.
package cloudtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/infraplane/infraplane/internal/localcloud"
)

// InCI reports whether the tests run under CI (env CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test with the message, or fails it when InCI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true, so this is a failure, not a skip: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Start starts a local cloud with opts and stops it in t.Cleanup (which
// also runs when the test panics or calls t.FailNow). Unless opts.LogDir is
// set, emulator logs go to a per-test temporary directory. If the test
// failed, the cleanup logs the last output of the emulators.
//
// When the mode is localcloud.ModeEmulators and an emulator is not
// installed, the test is skipped, or fails under CI (see Unavailable). Any
// other start error fails the test.
func Start(t testing.TB, opts localcloud.Options) *localcloud.Cloud {
	t.Helper()
	if opts.LogDir == "" {
		opts.LogDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localcloud.Start(ctx, opts)
	if errors.Is(err, localcloud.ErrNotInstalled) {
		Unavailable(t, "local cloud: %v", err)
	}
	if err != nil {
		t.Fatalf("start local cloud: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if out := c.RecentOutput(40); out != "" {
				t.Logf("local cloud emulator output:\n%s", out)
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop local cloud: %v", err)
		}
	})
	return c
}

// RequireEmulators starts a local cloud of installed gcloud emulators
// (skip or, under CI, fail when one is missing).
func RequireEmulators(t testing.TB) *localcloud.Cloud {
	t.Helper()
	return Start(t, localcloud.Options{Mode: localcloud.ModeEmulators})
}

// Fakes starts a local cloud of in-process fakes; it needs nothing
// installed.
func Fakes(t testing.TB) *localcloud.Cloud {
	t.Helper()
	return Start(t, localcloud.Options{Mode: localcloud.ModeFakes})
}

// RequireTool returns the path of the program name (looked up on PATH),
// or skips the test (fails under CI) when it is missing.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s not found on PATH: %v", name, err)
	}
	return p
}

// EnvFile writes the cloud's env file into a temporary directory and
// returns its path.
func EnvFile(t testing.TB, c *localcloud.Cloud) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "localcloud.env")
	if err := c.WriteEnvFile(p); err != nil {
		t.Fatalf("write env file: %v", err)
	}
	return p
}
