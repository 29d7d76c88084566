package validate

import (
	"bytes"
	"github.com/infraplane/infraplane/internal/gitops"
	"os"
	"path/filepath"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// Objects rendered by kustomize carry no line (and, unless the
// kustomization asks for origin annotations, no file either). A sourceIndex
// finds them in the files the kustomization (and its bases, followed
// locally) lists, by kind and name, so problems can still point at a file
// and line. Fields a patch changed point at the original resource.
type sourceIndex struct {
	root string
	docs []sourceDoc
}

type sourceDoc struct {
	file       string // relative to root, slash-separated
	kind, name string
	node       *yamlv3.Node
}

var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func indexKustomization(root string) *sourceIndex {
	ix := &sourceIndex{root: root}
	ix.addKustomization(root, map[string]bool{})
	return ix
}

func (ix *sourceIndex) addKustomization(dir string, seen map[string]bool) {
	abs, err := filepath.Abs(dir)
	if err != nil || seen[abs] {
		return
	}
	seen[abs] = true
	var data []byte
	for _, n := range kustomizationNames {
		if data, err = os.ReadFile(filepath.Join(dir, n)); err == nil {
			break
		}
	}
	if data == nil {
		return
	}
	var k struct {
		Resources  []string `yaml:"resources"`
		Bases      []string `yaml:"bases"`
		Components []string `yaml:"components"`
	}
	if yamlv3.Unmarshal(data, &k) != nil {
		return
	}
	for _, entry := range append(append(k.Resources, k.Bases...), k.Components...) {
		if strings.Contains(entry, "://") || strings.HasPrefix(entry, "git@") || strings.Contains(entry, "?ref=") {
			continue // remote: not offline
		}
		p := filepath.Join(dir, entry)
		info, err := os.Stat(p)
		switch {
		case err != nil:
		case info.IsDir():
			ix.addKustomization(p, seen)
		default:
			ix.addFile(p)
		}
	}
}

func (ix *sourceIndex) addFile(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	rel, err := filepath.Rel(ix.root, path)
	if err != nil {
		rel = path
	}
	rel = filepath.ToSlash(rel)
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	for {
		var doc yamlv3.Node
		if err := dec.Decode(&doc); err != nil {
			return // io.EOF, or a syntax error kustomize would have failed on
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yamlv3.MappingNode {
			continue
		}
		root := doc.Content[0]
		d := sourceDoc{file: rel, node: root}
		d.kind = scalar(root, "kind")
		if md := child(root, "metadata"); md != nil {
			d.name = scalar(md, "name")
		}
		ix.docs = append(ix.docs, d)
	}
}

// find returns the source document of a rendered object: one of its kind
// whose name is the rendered name, or is contained in it (namePrefix,
// nameSuffix), preferring file when known.
func (ix *sourceIndex) find(kind, name, file string) (sourceDoc, bool) {
	var best sourceDoc
	score := -1
	for _, d := range ix.docs {
		if d.kind != kind || d.name == "" || !strings.Contains(name, d.name) {
			continue
		}
		s := len(d.name) * 2
		if d.name == name {
			s += 1000
		}
		if d.file == file {
			s++
		}
		if s > score {
			best, score = d, s
		}
	}
	return best, score >= 0
}

func child(n *yamlv3.Node, key string) *yamlv3.Node {
	if n == nil || n.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yamlv3.Node, key string) string {
	if c := child(n, key); c != nil && c.Kind == yamlv3.ScalarNode {
		return c.Value
	}
	return ""
}

// nodeLine returns the line of a field path as the API server writes it
// ("spec.labels.team", "spec.items[2].name", "metadata.annotations[a.b/c]")
// in a YAML document, or the line of the deepest part found.
func nodeLine(n *yamlv3.Node, path string) int {
	parts := gitops.SplitFieldPath(path)
	loc := make([]any, len(parts))
	for i, p := range parts {
		loc[i] = p
	}
	return gitops.LineIn(n, n.Line, loc)
}
