package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Source says where an object came from: a file (relative to the rendered
// directory) and the line its document starts on. Objects rendered by
// kustomize carry the file kustomize read them from, when it says.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
}

func (s Source) String() string {
	if s.Line > 0 {
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	}
	return s.File
}

// Object is one rendered manifest and where it came from.
type Object struct {
	*unstructured.Unstructured
	Source Source
	// node is the parsed YAML document, to find the line of a field.
	node *yamlv3.Node
}

// ID is "Kind/name", the way objects are named in messages.
func (o Object) ID() string { return o.GetKind() + "/" + o.GetName() }

// FieldLine returns the line of a field path as the API server writes it
// ("spec.ackDeadlineSeconds", "resources[2]", "metadata.labels[a.b/c]") in
// the object's source document, or the document's line when unknown.
func (o Object) FieldLine(path string) int {
	if o.node == nil || path == "" {
		return o.Source.Line
	}
	parts := SplitFieldPath(path)
	loc := make([]any, len(parts))
	for i, p := range parts {
		loc[i] = p // LineIn reads an index in a list
	}
	return LineIn(o.node, o.Source.Line, loc)
}

// SplitFieldPath splits "a.b[c.d].e[0]" into a, b, c.d, e, 0.
func SplitFieldPath(path string) []string {
	path = strings.TrimPrefix(path, ".")
	var parts []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			j := strings.IndexByte(path[i:], ']')
			if j < 0 {
				cur.WriteString(path[i+1:])
				i = len(path)
				break
			}
			parts = append(parts, path[i+1:i+j])
			i += j
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return parts
}

// LineIn walks loc (mapping keys and list indexes; an index may also be
// given as a string, as in a field path "spec.items.2") down from n and
// returns the line of the deepest part found, start when not even the
// first is. It is the one walker for manifests, kustomizations and the
// field paths of API server errors (validate).
func LineIn(n *yamlv3.Node, start int, loc []any) int {
	line := start
	for _, l := range loc {
		if s, ok := l.(string); ok && n.Kind == yamlv3.SequenceNode {
			i, err := strconv.Atoi(s)
			if err != nil {
				return line
			}
			l = i
		}
		switch l := l.(type) {
		case string:
			if n.Kind != yamlv3.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == l {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yamlv3.SequenceNode || l < 0 || l >= len(n.Content) {
				return line
			}
			n = n.Content[l]
			line = n.Line
		}
	}
	return line
}

// RenderError is a problem with one file: it cannot be read or parsed.
type RenderError struct {
	Source Source
	Err    error
}

func (e *RenderError) Error() string { return fmt.Sprintf("%s: %v", e.Source, e.Err) }

// Render turns dir, a directory of the repository whose root is root,
// into objects: with kustomize when the directory has a kustomization
// file, else every *.yaml, *.yml and *.json file under it (recursively, in
// lexical order; multi-document files allowed). Errors name the file and
// line.
//
// The repository is untrusted input: nothing outside root is read
// (symlinks included), only regular files are, within the default
// RenderOptions limits, and a kustomization may not make kustomize fetch
// or execute anything (see kustomize.go).
func Render(root, dir string) ([]Object, error) {
	return RenderWith(root, dir, RenderOptions{})
}

// RenderWith is Render with limits.
func RenderWith(root, dir string, opts RenderOptions) ([]Object, error) {
	rfs, err := openRepo(root, dir, opts)
	if err != nil {
		return nil, err
	}
	defer rfs.Close()
	for _, k := range kustomizationNames {
		if _, err := rfs.root.Lstat(filepath.FromSlash(path.Join(rfs.dir, k))); err == nil {
			return renderKustomize(rfs)
		}
	}
	return renderPlain(rfs)
}

func renderPlain(rfs *repoFS) ([]Object, error) {
	var files []string
	err := fs.WalkDir(rfs.root.FS(), rfs.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != rfs.dir && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // .git and friends
			}
			return nil
		}
		switch strings.ToLower(path.Ext(p)) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Object
	var errs []error
	for _, f := range files {
		rel := rfs.display(f)
		data, err := rfs.read(f)
		if err != nil {
			errs = append(errs, &RenderError{Source{File: rel}, inner(err)})
			continue
		}
		objs, err := parseDocuments(rel, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, objs...)
	}
	return out, errors.Join(errs...)
}

// parseDocuments parses a multi-document YAML (or JSON) file into objects,
// keeping each document's line and node.
func parseDocuments(file string, data []byte) ([]Object, error) {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var out []Object
	for {
		var doc yamlv3.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			line := YAMLSyntaxErrorLine(data)
			if line == 0 {
				line = yamlErrorLine(err)
			}
			return nil, &RenderError{Source{File: file, Line: line}, fmt.Errorf("invalid YAML: %w", err)}
		}
		if len(doc.Content) == 0 || (doc.Content[0].Kind == yamlv3.ScalarNode && doc.Content[0].Tag == "!!null") {
			continue // empty document
		}
		root := doc.Content[0]
		src := Source{File: file, Line: root.Line}
		if root.Kind != yamlv3.MappingNode {
			return nil, &RenderError{src, errors.New("a manifest must be a mapping with apiVersion, kind and metadata")}
		}
		var m map[string]any
		if err := root.Decode(&m); err != nil {
			return nil, &RenderError{src, err}
		}
		// Round-trip through JSON so numbers and maps have the types the
		// Kubernetes machinery expects.
		js, err := yaml.Marshal(m)
		if err != nil {
			return nil, &RenderError{src, err}
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(js, &u.Object); err != nil {
			return nil, &RenderError{src, err}
		}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, &RenderError{src, errors.New("missing apiVersion or kind")}
		}
		if u.GetName() == "" {
			// At metadata, where the name belongs, when there is one.
			at := Source{File: file, Line: LineIn(root, root.Line, []any{"metadata"})}
			return nil, &RenderError{at, fmt.Errorf("%s has no metadata.name", u.GetKind())}
		}
		out = append(out, Object{Unstructured: u, Source: src, node: root})
	}
}

// yamlErrorLine extracts "line N" from a YAML parser error.
func yamlErrorLine(err error) int {
	var n int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i+5:], "%d", &n)
	}
	return n
}

// originAnnotation is what kustomize's originAnnotations build option writes.
const originAnnotation = "config.kubernetes.io/origin"

func renderKustomize(rfs *repoFS) ([]Object, error) {
	scan := newKustomizeScan(rfs)
	if err := scan.kustomization(rfs.dir, ""); err != nil {
		return nil, err
	}
	resMap, err := scan.run()
	if err != nil {
		return nil, &RenderError{Source{File: "kustomization.yaml"}, fmt.Errorf("kustomize build failed: %w", err)}
	}
	var out []Object
	for _, r := range resMap.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		src := Source{File: "kustomization.yaml"}
		if o, ok := u.GetAnnotations()[originAnnotation]; ok {
			var origin struct {
				Path string `json:"path"`
			}
			if yaml.Unmarshal([]byte(o), &origin) == nil && origin.Path != "" {
				src.File = origin.Path
			}
			ann := u.GetAnnotations()
			delete(ann, originAnnotation)
			if len(ann) == 0 {
				ann = nil
			}
			u.SetAnnotations(ann)
		}
		out = append(out, Object{Unstructured: u, Source: src})
	}
	return out, nil
}
