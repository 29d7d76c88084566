package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// The API server's refusals, as "FILE:LINE: Kind/name: FIELD: what is
// wrong". Server-side apply reports type errors before validation, as one
// plain string naming the object and a field path with a leading dot; and
// CEL rules without a field path, or the note that rules were skipped,
// come as causes of field "<nil>".
var (
	typedPatchError = regexp.MustCompile(`failed to create typed patch object \([^)]*\): `)
	typedFieldError = regexp.MustCompile(`^(\.[^:]+): (.*)$`)
	smdValue        = regexp.MustCompile(`^&\{(.*)\}$`)
)

// skippedRules is the API server's note that CEL rules were not evaluated
// because of other errors: those errors are the problems.
const skippedRules = "some validation rules were not checked"

// ProblemsFromAPIError maps an API server refusal of obj to problems, one
// per field, each at the line of its field in the source file (the syncer
// and plan both dry-run).
func ProblemsFromAPIError(obj Object, err error) []Problem {
	at := func(field, msg string) Problem {
		field = strings.TrimPrefix(field, ".")
		if field == "<nil>" {
			field = ""
		}
		// A rule on an object that names a field inside it ("metadata.name
		// is used as…") points at that field.
		if f := leadingField(msg, field, obj); f != "" {
			field = f
		}
		return Problem{Source: Source{obj.Source.File, obj.FieldLine(field)}, Object: obj.ID(), Field: field, Msg: msg}
	}
	var se *apierrors.StatusError
	if errors.As(err, &se) && se.ErrStatus.Details != nil && len(se.ErrStatus.Details.Causes) > 0 {
		var out, skipped []Problem
		for _, c := range se.ErrStatus.Details.Causes {
			msg := strings.TrimPrefix(c.Message, "Invalid value: null: ")
			if strings.HasPrefix(msg, skippedRules) {
				skipped = append(skipped, at("", msg))
				continue
			}
			out = append(out, at(c.Field, msg))
		}
		if len(out) == 0 {
			return skipped
		}
		return out
	}
	msg := err.Error()
	if se != nil {
		msg = se.ErrStatus.Message
	}
	if loc := typedPatchError.FindStringIndex(msg); loc != nil {
		var out []Problem
		for _, l := range strings.Split(msg[loc[1]:], "\n") {
			l = strings.TrimSpace(l)
			if l == "" || l == "errors:" {
				continue
			}
			m := typedFieldError.FindStringSubmatch(l)
			if m == nil {
				out = append(out, at("", l))
				continue
			}
			out = append(out, at(m[1], typeMessage(strings.TrimPrefix(m[1], "."), m[2])))
		}
		if len(out) > 0 {
			return out
		}
	}
	return []Problem{{Source: obj.Source, Object: obj.ID(), Msg: msg}}
}

// typeMessage says in words what server-side apply's schema errors mean.
func typeMessage(field, msg string) string {
	got := func(prefix string) string {
		v := strings.TrimPrefix(msg, prefix)
		if m := smdValue.FindStringSubmatch(v); m != nil {
			v = m[1]
		}
		return v
	}
	switch {
	case msg == "field not declared in schema":
		return fmt.Sprintf("unknown field %q", field)
	case strings.HasPrefix(msg, "expected map, got "):
		return fmt.Sprintf("must be a map of keys to values, not %q", got("expected map, got "))
	case strings.HasPrefix(msg, "expected list, got "):
		return fmt.Sprintf("must be a list, not %q", got("expected list, got "))
	case strings.HasPrefix(msg, "expected numeric (int or float), got "):
		return "must be a number, not a " + strings.TrimPrefix(msg, "expected numeric (int or float), got ")
	case strings.HasPrefix(msg, "expected string, got "):
		return "must be a string (quote it)"
	case strings.HasPrefix(msg, "expected boolean, got "):
		return "must be true or false"
	}
	return msg
}

// leadingField returns the field a message starts with ("metadata.name is
// used as…") when it lies inside field and obj has it; else "".
func leadingField(msg, field string, obj Object) string {
	word, _, _ := strings.Cut(strings.TrimPrefix(msg, "Invalid value: "), " ")
	word = strings.TrimRight(word, ":,;")
	if !strings.Contains(word, ".") || word == field || (field != "" && !strings.HasPrefix(word, field+".")) {
		return ""
	}
	if obj.Unstructured == nil {
		return ""
	}
	if _, found, err := unstructured.NestedFieldNoCopy(obj.Object, strings.Split(word, ".")...); err != nil || !found {
		return ""
	}
	return word
}
