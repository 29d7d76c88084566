// Command infraplane is declarative cloud infrastructure on Kubernetes: one
// binary with subcommands (up, controller, version). See `infraplane --help`.
package main

import (
	"os"

	"github.com/infraplane/infraplane/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
