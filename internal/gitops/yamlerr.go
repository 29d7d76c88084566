package gitops

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
)

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): `)

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

// YAMLSyntaxErrorLine is the 1-based line of the first YAML syntax error
// in data, or 0. yaml.v3 (which Render parses with) names the line where
// the enclosing block starts; yaml.v2 names the line of the problem.
func YAMLSyntaxErrorLine(data []byte) int {
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		err := dec.Decode(&v)
		if err == nil {
			continue
		}
		m := yamlErrLine.FindStringSubmatch(err.Error())
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
