package backport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The editor never re-encodes a whole file: re-encoding YAML loses
// comments, quoting and indentation. It parses the file only to learn where
// things are (yaml.v3 nodes carry line and column) and splices text:
// a scalar is replaced within its line, a field is removed or inserted as
// whole lines, and only when a value changes shape (a list, a map that
// replaces a scalar, anything inside a flow-style {…}) are that field's
// own lines re-encoded. Every other byte of the file stays as it was.

// objectID names a manifest the way Change does. The version is left out
// on purpose: the live object may be served at another version than the
// one written in git.
type objectID struct{ group, kind, name string }

func idOf(apiVersion, kind, name string) objectID {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		gv.Group, _, _ = strings.Cut(apiVersion, "/")
	}
	return objectID{gv.Group, kind, name}
}

func (id objectID) String() string { return id.kind + "/" + id.name }

// document is one YAML document of a file, with the file's lines.
type document struct {
	lines []string // each with its line ending
	eol   string   // the file's line ending, for inserted lines
	root  *yaml.Node
	step  int // the document's indentation step, for inserted lines
}

// parseDocument finds the document defining id in data.
func parseDocument(data []byte, id objectID) (*document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("no document defines %s", id)
		}
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		root := doc.Content[0]
		if !matches(root, id) {
			continue
		}
		d := &document{root: root, eol: "\n", step: indentStep(root)}
		if bytes.Contains(data, []byte("\r\n")) {
			d.eol = "\r\n"
		}
		d.lines = strings.SplitAfter(string(data), "\n")
		if d.lines[len(d.lines)-1] == "" {
			d.lines = d.lines[:len(d.lines)-1]
		}
		return d, nil
	}
}

func matches(root *yaml.Node, id objectID) bool {
	api, kind, meta := lookup(root, "apiVersion"), lookup(root, "kind"), lookup(root, "metadata")
	if api == nil || kind == nil || meta == nil {
		return false
	}
	name := lookup(meta, "name")
	return name != nil && idOf(api.Value, kind.Value, name.Value) == id
}

// lookup returns the value of key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if i := keyIndex(m, key); i >= 0 {
		return m.Content[i+1]
	}
	return nil
}

// keyIndex returns the index of key in mapping m's Content, or -1.
func keyIndex(m *yaml.Node, key string) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// indentStep is how far the document indents a nested mapping (2 unless
// it shows otherwise), so inserted lines look like their neighbours.
func indentStep(n *yaml.Node) int {
	if n.Kind != yaml.MappingNode || n.Style&yaml.FlowStyle != 0 {
		return 2
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
			if s := v.Content[0].Column - k.Column; s > 0 {
				return s
			}
		}
	}
	return 2
}

func (d *document) bytes() []byte { return []byte(strings.Join(d.lines, "")) }

// setField writes value at path (or removes it) in the document defining
// id, and returns the new file contents.
func setField(data []byte, id objectID, path []string, value any, remove bool) ([]byte, error) {
	d, err := parseDocument(data, id)
	if err != nil {
		return nil, err
	}
	type entry struct {
		m *yaml.Node // a mapping
		i int        // index of the key in m.Content
	}
	var stack []entry // block mappings walked through, for removing emptied parents
	var flow *entry   // the block-context field whose flow-style value holds cur
	flowAt := 0       // index in path of flow's key
	cur := d.root
	// reencode rewrites the field holding the flow-style value, the
	// smallest part of the file that can be re-encoded without losing
	// the comments around it.
	reencode := func() ([]byte, error) {
		if flow == nil {
			return nil, fmt.Errorf("%s: the document is in flow style (like JSON); only existing scalar values can be changed in place, edit it by hand", strings.Join(path, "."))
		}
		k, v := flow.m.Content[flow.i], flow.m.Content[flow.i+1]
		nodeSet(v, path[flowAt+1:], value, remove)
		return d.replaceEntry(k, v), nil
	}
	for i, seg := range path {
		block := cur.Style&yaml.FlowStyle == 0
		idx := keyIndex(cur, seg)
		last := i == len(path)-1
		if idx < 0 {
			switch {
			case remove:
				return data, nil // already absent
			case !block || len(cur.Content) == 0:
				return reencode()
			}
			return d.insertEntry(cur, seg, nest(path[i+1:], value)), nil
		}
		k, v := cur.Content[idx], cur.Content[idx+1]
		if last && remove {
			if !block {
				return reencode()
			}
			// A mapping left empty goes too (labels: with no labels
			// would be null), up to the document's root.
			e := entry{cur, idx}
			for len(e.m.Content) == 2 && len(stack) > 0 {
				e, stack = stack[len(stack)-1], stack[:len(stack)-1]
			}
			return d.removeEntry(e.m.Content[e.i]), nil
		}
		if last {
			if equalNode(v, value) {
				return data, nil
			}
			if m, ok := value.(map[string]any); ok && len(m) > 0 && v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
				return setMapping(data, id, path, m, v)
			}
			if out, ok := d.replaceScalar(v, value, !block); ok {
				return out, nil
			}
			if !block {
				return reencode()
			}
			return d.replaceEntry(k, newNode(value)), nil
		}
		if v.Kind != yaml.MappingNode {
			switch {
			case remove:
				return data, nil
			case !block:
				return reencode()
			}
			nodeSet(v, path[i+1:], value, false)
			return d.replaceEntry(k, v), nil
		}
		if block && v.Style&yaml.FlowStyle != 0 {
			flow, flowAt = &entry{cur, idx}, i
		}
		stack = append(stack, entry{cur, idx})
		cur = v
	}
	return nil, errors.New("empty field path")
}

// setMapping makes the block mapping at path equal m key by key, so the
// comments on keys that stay are kept.
func setMapping(data []byte, id objectID, path []string, m map[string]any, old *yaml.Node) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var drop []string
	for i := 0; i+1 < len(old.Content); i += 2 {
		if _, ok := m[old.Content[i].Value]; !ok {
			drop = append(drop, old.Content[i].Value)
		}
	}
	var err error
	for _, k := range keys {
		if data, err = setField(data, id, append(path[:len(path):len(path)], k), m[k], false); err != nil {
			return nil, err
		}
	}
	for _, k := range drop {
		if data, err = setField(data, id, append(path[:len(path):len(path)], k), nil, true); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// nest wraps value in maps for the path segments that do not exist yet.
func nest(path []string, value any) any {
	for i := len(path) - 1; i >= 0; i-- {
		value = map[string]any{path[i]: value}
	}
	return value
}

// replaceScalar replaces a one-line scalar's text within its line, keeping
// its quoting when the new value is a string too. It reports false when
// the old or new value does not fit on one line this way.
func (d *document) replaceScalar(v *yaml.Node, value any, inFlow bool) ([]byte, bool) {
	const unsupported = yaml.TaggedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	if v.Kind != yaml.ScalarNode || v.Anchor != "" || v.Style&unsupported != 0 || (v.Tag == "!!null" && v.Value == "") {
		return nil, false
	}
	text, ok := scalarText(value, v.Style, inFlow)
	if !ok {
		return nil, false
	}
	line := d.lines[v.Line-1]
	start := byteOffset(line, v.Column)
	end := scalarEnd(line, start, v)
	if end < 0 {
		return nil, false
	}
	d.lines[v.Line-1] = line[:start] + text + line[end:]
	return d.bytes(), true
}

// scalarText is value as one line of YAML, or false.
func scalarText(value any, old yaml.Style, inFlow bool) (string, bool) {
	n := newNode(value)
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	if s, ok := value.(string); ok {
		switch {
		case old&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
			n.Style = old & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)
		case inFlow && strings.ContainsAny(s, ",[]{}"):
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		return "", false
	}
	text := strings.TrimSuffix(string(out), "\n")
	return text, !strings.Contains(text, "\n")
}

// byteOffset converts a 1-based column (in characters) to a byte offset.
func byteOffset(line string, col int) int {
	n := 1
	for i := range line {
		if n == col {
			return i
		}
		n++
	}
	return len(line)
}

// scalarEnd is the byte offset just past the scalar v starting at start,
// or -1 when it does not end on this line.
func scalarEnd(line string, start int, v *yaml.Node) int {
	switch {
	case v.Style&yaml.DoubleQuotedStyle != 0:
		for i := start + 1; i < len(line) && line[start] == '"'; i++ {
			switch line[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
	case v.Style&yaml.SingleQuotedStyle != 0:
		for i := start + 1; i < len(line) && line[start] == '\''; i++ {
			if line[i] == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
					continue
				}
				return i + 1
			}
		}
	default:
		if !strings.Contains(v.Value, "\n") && strings.HasPrefix(line[start:], v.Value) {
			return start + len(v.Value)
		}
	}
	return -1
}

// entryEnd is the last line of the block mapping field whose key is k:
// the lines after it indented deeper (and a compact "- " list at its own
// indentation), not counting trailing blank lines.
func (d *document) entryEnd(k *yaml.Node) int {
	indent := k.Column - 1
	end := k.Line
	for j := k.Line + 1; j <= len(d.lines); j++ {
		t := strings.TrimRight(d.lines[j-1], "\r\n")
		trimmed := strings.TrimLeft(t, " ")
		if trimmed == "" {
			continue
		}
		in := len(t) - len(trimmed)
		if in > indent || (in == indent && (trimmed == "-" || strings.HasPrefix(trimmed, "- "))) {
			end = j
			continue
		}
		break
	}
	return end
}

// splice replaces lines from..to (1-based, inclusive; to = from-1 inserts).
func (d *document) splice(from, to int, repl []string) []byte {
	if to == len(d.lines) && to > 0 && !strings.HasSuffix(d.lines[to-1], "\n") && len(repl) > 0 && from > to {
		d.lines[to-1] += d.eol // inserting after a last line without a newline
	}
	out := append(append(append([]string{}, d.lines[:from-1]...), repl...), d.lines[to:]...)
	d.lines = out
	return d.bytes()
}

// removeEntry deletes a block mapping field with its comment lines above.
func (d *document) removeEntry(k *yaml.Node) []byte {
	from := k.Line
	for from > 1 {
		t := strings.TrimRight(d.lines[from-2], "\r\n")
		trimmed := strings.TrimLeft(t, " ")
		if !strings.HasPrefix(trimmed, "#") || len(t)-len(trimmed) != k.Column-1 {
			break
		}
		from--
	}
	return d.splice(from, d.entryEnd(k), nil)
}

// replaceEntry re-encodes one block mapping field with value v.
func (d *document) replaceEntry(k, v *yaml.Node) []byte {
	return d.splice(k.Line, d.entryEnd(k), d.encodeEntry(k.Column-1, k, v))
}

// insertEntry adds key: value after the last field of block mapping m.
func (d *document) insertEntry(m *yaml.Node, key string, value any) []byte {
	last := m.Content[len(m.Content)-2]
	at := d.entryEnd(last)
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	return d.splice(at+1, at, d.encodeEntry(last.Column-1, k, newNode(value)))
}

// encodeEntry encodes "key: value" as lines indented by indent spaces.
func (d *document) encodeEntry(indent int, k, v *yaml.Node) []string {
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.Value, Style: k.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(d.step)
	_ = enc.Encode(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{key, v}})
	_ = enc.Close()
	var out []string
	for _, l := range strings.SplitAfter(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		out = append(out, strings.Repeat(" ", indent)+strings.TrimSuffix(l, "\n")+d.eol)
	}
	return out
}

// newNode encodes a JSON-compatible value as a YAML node.
func newNode(value any) *yaml.Node {
	var n yaml.Node
	if err := n.Encode(value); err != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	return &n
}

// nodeSet applies a field change to a node tree in memory, keeping the key
// order and style (flow stays flow) of what is there.
func nodeSet(n *yaml.Node, path []string, value any, remove bool) {
	if len(path) == 0 {
		nn := newNode(value)
		if n.Style&yaml.FlowStyle != 0 && nn.Kind != yaml.ScalarNode {
			nn.Style |= yaml.FlowStyle
		}
		*n = *nn
		return
	}
	if n.Kind != yaml.MappingNode {
		if remove {
			return
		}
		*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: n.Style & yaml.FlowStyle}
	}
	i := keyIndex(n, path[0])
	switch {
	case i < 0 && remove:
	case i < 0:
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path[0]}, newNode(nest(path[1:], value)))
	case remove && len(path) == 1:
		n.Content = append(n.Content[:i], n.Content[i+2:]...)
	default:
		nodeSet(n.Content[i+1], path[1:], value, remove)
	}
}

// equalNode says whether node already holds value.
func equalNode(n *yaml.Node, value any) bool {
	var v any
	if n.Decode(&v) != nil {
		return false
	}
	return equalJSON(v, value)
}

// equalJSON compares two values the way they would compare as JSON:
// 60 and 60.0 are equal, map key types do not matter.
func equalJSON(a, b any) bool {
	na, errA := normalize(a)
	nb, errB := normalize(b)
	return errA == nil && errB == nil && reflect.DeepEqual(na, nb)
}

func normalize(v any) (any, error) {
	if m, ok := v.(map[any]any); ok { // from yaml decoding of odd keys
		s := make(map[string]any, len(m))
		for k, x := range m {
			s[fmt.Sprint(k)] = x
		}
		v = s
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(js, &out)
	return out, err
}
