package validate

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/infraplane/infraplane/internal/gitops"
)

var (
	yamlLine     = regexp.MustCompile(`^yaml: line (\d+): `)
	yamlListLine = regexp.MustCompile(`^\s*line (\d+): (.*)$`)
)

// refineRenderProblem makes a render error one line, at the right line.
//
// Render parses with yaml.v3, whose syntax errors name the line where the
// enclosing block starts ("line 5" for a mis-indented key on line 8).
// yaml.v2 names the line of the problem itself, so the file is parsed again
// with it to find that line. Unmarshal errors ("mapping key already
// defined") carry their own lines.
func refineRenderProblem(dir string, p gitops.Problem) gitops.Problem {
	if rest, ok := strings.CutPrefix(p.Msg, "invalid YAML: "); ok {
		if data, err := os.ReadFile(filepath.Join(dir, p.Source.File)); err == nil {
			if line := gitops.YAMLSyntaxErrorLine(data); line > 0 {
				p.Source.Line = line
			}
		}
		p.Msg = "invalid YAML: " + yamlLine.ReplaceAllString(rest, "")
	}
	if head, list, ok := strings.Cut(p.Msg, "unmarshal errors:\n"); ok {
		var msgs []string
		for i, l := range strings.Split(list, "\n") {
			m := yamlListLine.FindStringSubmatch(l)
			if m == nil {
				msgs = append(msgs, strings.TrimSpace(l))
				continue
			}
			if n, err := strconv.Atoi(m[1]); err == nil && i == 0 {
				p.Source.Line = n
			}
			msgs = append(msgs, m[2])
		}
		p.Msg = strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(head, "yaml:")), ":")
		if p.Msg != "" {
			p.Msg += ": "
		}
		p.Msg = "invalid YAML: " + p.Msg + strings.Join(msgs, "; ")
	}
	p.Msg = strings.Join(strings.Fields(p.Msg), " ")
	return p
}
