// Package conformance checks, on live objects of a real API server with
// the controllers running, that every infraplane kind reads right to the
// tools that judge health generically: kstatus (Flux, kubectl wait, and
// what Argo CD's health checks are modelled on).
package conformance_test

import (
	"os"
	"testing"

	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, testenv.Options{})) }
