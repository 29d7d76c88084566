package validate

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"

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
		if line := syntaxErrorLine(filepath.Join(dir, p.Source.File)); line > 0 {
			p.Source.Line = line
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

// parserErrors are the libyaml errors raised by the parser (not the
// scanner): yaml.v2 reports their line 0-based.
var parserErrors = []string{
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
}

// syntaxErrorLine is the 1-based line of the first YAML syntax error in
// file, as yaml.v2 locates it, or 0.
func syntaxErrorLine(file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		err := dec.Decode(&v)
		if err == nil {
			continue
		}
		m := yamlLine.FindStringSubmatch(err.Error())
		if m == nil {
			return 0 // io.EOF, or an error without a line
		}
		n, _ := strconv.Atoi(m[1])
		for _, pe := range parserErrors {
			if strings.HasSuffix(err.Error(), pe) {
				return n + 1
			}
		}
		return n
	}
}
