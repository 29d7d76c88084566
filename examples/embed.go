// Package examples embeds the example manifests, so `infraplane up
// --example NAME` works from any directory.
package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed quickstart/*.yaml
var files embed.FS

// Names lists the available examples.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Files returns the manifests of one example, in file-name order.
func Files(name string) (map[string][]byte, error) {
	matches, _ := fs.Glob(files, name+"/*.yaml")
	if len(matches) == 0 {
		return nil, fmt.Errorf("no example %q (have: %v)", name, Names())
	}
	out := map[string][]byte{}
	for _, m := range matches {
		data, err := files.ReadFile(m)
		if err != nil {
			return nil, err
		}
		out[m] = data
	}
	return out, nil
}
