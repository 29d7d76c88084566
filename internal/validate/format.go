package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/infraplane/infraplane/internal/gitops"
)

// Formats are the output formats Format knows.
var Formats = []string{"text", "json", "github"}

// Format writes the result:
//
//   - text: one line per problem, "file:line: Kind/name: field: message"
//     (file relative to Dir), then the notes ("note: …") and a summary line
//     "N objects, M problems";
//   - json: {"dir", "objects", "valid", "problems": [{"source": {"file",
//     "line"}, "object", "field", "message"}], "notes"};
//   - github: GitHub Actions workflow commands, "::error file=…,line=…::…"
//     per problem (file prefixed with Dir, so relative to the repository
//     root when Dir is), "::notice::…" per note, then the summary line.
func (r Result) Format(w io.Writer, format string) error {
	switch format {
	case "text", "":
		var b strings.Builder
		for _, p := range r.Problems {
			b.WriteString(p.String() + "\n")
		}
		for _, n := range r.Notes {
			b.WriteString("note: " + n + "\n")
		}
		b.WriteString(r.Summary() + "\n")
		_, err := io.WriteString(w, b.String())
		return err
	case "json":
		out := struct {
			Dir      string           `json:"dir"`
			Objects  int              `json:"objects"`
			Valid    bool             `json:"valid"`
			Problems []gitops.Problem `json:"problems"`
			Notes    []string         `json:"notes"`
		}{r.Dir, r.Objects, r.Valid(), r.Problems, r.Notes}
		if out.Problems == nil {
			out.Problems = []gitops.Problem{}
		}
		if out.Notes == nil {
			out.Notes = []string{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "github":
		var b strings.Builder
		for _, p := range r.Problems {
			props := "file=" + escapeProperty(r.repoPath(p.Source.File))
			if p.Source.Line > 0 {
				props += fmt.Sprintf(",line=%d", p.Source.Line)
			}
			if p.Object != "" {
				props += ",title=" + escapeProperty(p.Object)
			}
			msg := p.Msg
			if p.Field != "" {
				msg = p.Field + ": " + msg
			}
			if p.Object != "" {
				msg = p.Object + ": " + msg
			}
			fmt.Fprintf(&b, "::error %s::%s\n", props, escapeData(msg))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "::notice::%s\n", escapeData(n))
		}
		b.WriteString(r.Summary() + "\n")
		_, err := io.WriteString(w, b.String())
		return err
	default:
		return fmt.Errorf("unknown output format %q: use text, json or github", format)
	}
}

// repoPath is a problem's file as a path from where Dir was given.
func (r Result) repoPath(file string) string {
	if r.Dir == "" {
		return file
	}
	return path.Join(filepath.ToSlash(r.Dir), file)
}

// GitHub workflow command escaping.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
