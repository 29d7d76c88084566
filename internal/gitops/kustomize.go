package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Kustomize is run on an untrusted repository, so in two steps.
//
// First a scan reads every kustomization reachable from the rendered
// directory (through resources, bases, components, generators,
// transformers and validators, as kustomize would) and every file they
// name, through repoFS: inside the repository, regular files, within the
// size limits. It refuses, before kustomize runs:
//
//   - remote bases and resources, anything that looks like a URL or a git
//     address: kustomize clones them by running git, whose options a URL
//     can smuggle in (?ref=--upload-pack=… runs a command), and GETs
//     http(s) files: a repository must not make the controller execute
//     programs or reach arbitrary addresses;
//   - Helm charts (kustomize would run helm, which fetches charts);
//   - paths that are absolute, leave the repository, or go through .git.
//
// Then kustomize runs on an in-memory filesystem holding exactly the
// files the scan read. Whatever the scan does not know (a field of a
// future kustomize) then fails as "not found"; it can never read past the
// repository or the limits. The in-memory filesystem does not stop
// kustomize's network access (its git cloner and HTTP client ignore the
// filesystem), which is why the scan refuses every remote-looking entry,
// more broadly than kustomize recognises them.

var kustomizationNames = konfig.RecognizedKustomizationFileNames()

var errNoKustomization = errors.New("no kustomization file")

// kustomizeScan collects what one kustomize build may read.
type kustomizeScan struct {
	fs    *repoFS
	files map[string][]byte // repository path → contents
	seen  map[string]bool
	// rmf is the factory kustomize itself uses: the scan asks it whether
	// an entry is inline YAML, exactly as kustomize will.
	rmf *resmap.Factory
}

func newKustomizeScan(rfs *repoFS) *kustomizeScan {
	return &kustomizeScan{
		fs:    rfs,
		files: map[string][]byte{},
		seen:  map[string]bool{},
		rmf:   resmap.NewFactory(provider.NewDepProvider().GetResourceFactory()),
	}
}

// entryKind says how kustomize uses a path in a kustomization.
type entryKind int

const (
	// kindAny: a file of resources, or a directory with a kustomization
	// (resources, bases, components).
	kindAny entryKind = iota
	// kindFile: a file (crds, configurations, openapi.path, patch paths,
	// replacements paths, generator files and env files).
	kindFile
	// kindPatch: an inline patch, else a file (patchesStrategicMerge).
	kindPatch
	// kindPlugin: inline plugin configs, else a file of them or a
	// directory with a kustomization producing them (generators,
	// transformers, validators).
	kindPlugin
)

type kustEntry struct {
	label string // "resources entry", "patches[1].path"
	loc   []any  // where it is in the kustomization, to find its line
	value string
	kind  entryKind
}

// kustomizationIn returns the kustomization file of a repository
// directory, "" when it has none.
func (s *kustomizeScan) kustomizationIn(dir string) (string, error) {
	var found []string
	for _, n := range kustomizationNames {
		p := path.Join(dir, n)
		if _, err := s.fs.root.Lstat(filepath.FromSlash(p)); err == nil {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return "", nil
	}
	// Several: kustomize refuses that itself; give it all of them.
	for _, p := range found[1:] {
		data, err := s.fs.read(p)
		if err != nil {
			return "", &RenderError{Source{File: s.fs.display(p)}, inner(err)}
		}
		s.files[p] = data
	}
	return found[0], nil
}

// kustomization scans the kustomization in dir. owner is "" for
// resources; for plugin configurations (what generators, transformers and
// validators name, and what kustomizations they name produce), it is the
// directory of the kustomization that lists them, which file paths in
// the configurations are relative to.
func (s *kustomizeScan) kustomization(dir, owner string) error {
	key := dir + "\x00" + owner
	if s.seen[key] {
		return nil // kustomize reports cycles itself
	}
	s.seen[key] = true
	file, err := s.kustomizationIn(dir)
	if err != nil {
		return err
	}
	if file == "" {
		return errNoKustomization
	}
	data, err := s.fs.read(file)
	if err != nil {
		return &RenderError{Source{File: s.fs.display(file)}, inner(err)}
	}
	s.files[file] = data
	src := Source{File: s.fs.display(file)}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil { // kustomize's own parsing
		return &RenderError{src, err}
	}
	var doc yamlv3.Node
	_ = yamlv3.Unmarshal(data, &doc)
	at := func(loc ...any) Source { return Source{File: src.File, Line: lineAt(&doc, loc...)} }

	switch {
	case len(k.HelmCharts) > 0:
		return &RenderError{at("helmCharts"), errors.New("helmCharts: Helm charts are not rendered (kustomize would run helm, which fetches charts); render the chart and commit its manifests")}
	case len(k.HelmChartInflationGenerator) > 0:
		return &RenderError{at("helmChartInflationGenerator"), errors.New("helmChartInflationGenerator: Helm charts are not rendered (kustomize would run helm, which fetches charts); render the chart and commit its manifests")}
	case k.HelmGlobals != nil:
		return &RenderError{at("helmGlobals"), errors.New("helmGlobals: Helm charts are not rendered (kustomize would run helm, which fetches charts); render the chart and commit its manifests")}
	}

	var entries []kustEntry
	list := func(field string, kind entryKind, values []string) {
		for i, v := range values {
			entries = append(entries, kustEntry{field + " entry", []any{field, i}, v, kind})
		}
	}
	list("resources", kindAny, k.Resources)
	list("bases", kindAny, k.Bases)
	list("components", kindAny, k.Components)
	list("crds", kindFile, k.Crds)
	list("configurations", kindFile, k.Configurations)
	list("generators", kindPlugin, k.Generators)
	list("transformers", kindPlugin, k.Transformers)
	list("validators", kindPlugin, k.Validators)
	for i, p := range k.PatchesStrategicMerge {
		entries = append(entries, kustEntry{"patchesStrategicMerge entry", []any{"patchesStrategicMerge", i}, string(p), kindPatch})
	}
	if p, ok := k.OpenAPI["path"]; ok {
		entries = append(entries, kustEntry{"openapi.path", []any{"openapi", "path"}, p, kindFile})
	}
	patches := func(field string, patches []types.Patch) {
		for i, p := range patches {
			if p.Path != "" {
				entries = append(entries, kustEntry{fmt.Sprintf("%s[%d].path", field, i), []any{field, i, "path"}, p.Path, kindFile})
			}
		}
	}
	patches("patches", k.Patches)
	patches("patchesJson6902", k.PatchesJson6902)
	for i, r := range k.Replacements {
		if r.Path != "" {
			entries = append(entries, kustEntry{fmt.Sprintf("replacements[%d].path", i), []any{"replacements", i, "path"}, r.Path, kindFile})
		}
	}
	kv := func(field string, i int, src types.KvPairSources) {
		for j, f := range src.FileSources {
			entries = append(entries, kustEntry{fmt.Sprintf("%s[%d].files entry", field, i), []any{field, i, "files", j}, fileSourcePath(f), kindFile})
		}
		for j, f := range src.EnvSources {
			entries = append(entries, kustEntry{fmt.Sprintf("%s[%d].envs entry", field, i), []any{field, i, "envs", j}, f, kindFile})
		}
		if src.EnvSource != "" {
			entries = append(entries, kustEntry{fmt.Sprintf("%s[%d].env", field, i), []any{field, i, "env"}, src.EnvSource, kindFile})
		}
	}
	for i, g := range k.ConfigMapGenerator {
		kv("configMapGenerator", i, g.KvPairSources)
	}
	for i, g := range k.SecretGenerator {
		kv("secretGenerator", i, g.KvPairSources)
	}
	// The first problem in the file is reported.
	sort.SliceStable(entries, func(i, j int) bool { return lineAt(&doc, entries[i].loc...) < lineAt(&doc, entries[j].loc...) })

	for _, e := range entries {
		if err := s.entry(dir, owner, at(e.loc...), e); err != nil {
			return err
		}
	}
	return nil
}

// entry checks one path of a kustomization in dir and scans what it names.
func (s *kustomizeScan) entry(dir, owner string, src Source, e kustEntry) error {
	fail := func(format string, args ...any) error {
		return &RenderError{src, fmt.Errorf("%s %q: %s", e.label, e.value, fmt.Sprintf(format, args...))}
	}
	v := e.value
	switch e.kind {
	case kindPlugin:
		// kustomize tries every entry as inline configurations first.
		if _, err := s.rmf.NewResMapFromBytes([]byte(v)); err == nil {
			return s.pluginConfigs([]byte(v), dir, src, true)
		}
	case kindPatch:
		if _, err := s.rmf.RF().SliceFromBytes([]byte(v)); err == nil {
			return nil // an inline patch
		}
	}
	if why := remote(v); why != "" {
		return fail("%s: remote bases and resources are not allowed (kustomize would fetch it, running git or over HTTP); copy the files into this repository", why)
	}
	if strings.Contains(v, "\n") {
		return fail("neither a path nor inline YAML kustomize accepts here")
	}
	p, err := s.fs.join(dir, v)
	if err != nil {
		return fail("%v", err)
	}
	info, err := s.fs.stat(p)
	if err != nil {
		return fail("%v", err)
	}
	if info.IsDir() {
		if e.kind == kindFile || e.kind == kindPatch {
			return fail("%s is a directory; a file is expected", s.fs.display(p))
		}
		next := owner
		if e.kind == kindPlugin {
			next = dir
		}
		if err := s.kustomization(p, next); err != errNoKustomization {
			return err
		}
		return fail("%s is a directory without a kustomization file", s.fs.display(p))
	}
	data, err := s.fs.read(p)
	if err != nil {
		return fail("%v", err)
	}
	s.files[p] = data
	switch {
	case e.kind == kindPlugin:
		return s.pluginConfigs(data, dir, Source{File: s.fs.display(p)}, false)
	case e.kind == kindAny && owner != "":
		// Resources of a kustomization a generator or transformer
		// names are plugin configurations of owner.
		return s.pluginConfigs(data, owner, Source{File: s.fs.display(p)}, false)
	}
	return nil
}

// pluginConfigs scans the configurations of kustomize's built-in
// generators and transformers (only built-ins run: krusty's default
// options refuse exec and function plugins). Their file paths are relative
// to owner's directory; any http(s) URL in them is refused, since a path
// field kustomize loads may be one. src is where they are: their file, or
// (inline) the kustomization entry.
func (s *kustomizeScan) pluginConfigs(data []byte, owner string, src Source, inline bool) error {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	for {
		var doc yamlv3.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // kustomize reports it
		}
		if len(doc.Content) == 0 {
			continue
		}
		if err := s.pluginConfig(doc.Content[0], owner, src, inline); err != nil {
			return err
		}
	}
}

func (s *kustomizeScan) pluginConfig(n *yamlv3.Node, owner string, src Source, inline bool) error {
	at := func(node *yamlv3.Node) Source {
		if inline {
			return src
		}
		return Source{File: src.File, Line: node.Line}
	}
	var walkErr error
	walkScalars(n, func(sc *yamlv3.Node) bool {
		for _, c := range []string{sc.Value, fileSourcePath(sc.Value)} {
			if isHTTPURL(c) {
				walkErr = &RenderError{at(sc), fmt.Errorf("%q in a %s configuration: URLs are not allowed in generator and transformer configurations; kustomize would fetch it", sc.Value, kindOf(n))}
				return false
			}
		}
		return true
	})
	if walkErr != nil {
		return walkErr
	}
	if n.Kind != yamlv3.MappingNode {
		return nil
	}
	kind := kindOf(n)
	if kind == "HelmChartInflationGenerator" {
		return &RenderError{at(n), errors.New("HelmChartInflationGenerator: Helm charts are not rendered (kustomize would run helm, which fetches charts); render the chart and commit its manifests")}
	}
	if items := mapValue(n, "items"); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yamlv3.SequenceNode {
		for _, it := range items.Content {
			if err := s.pluginConfig(it, owner, src, inline); err != nil {
				return err
			}
		}
		return nil
	}
	// The built-in configurations' file fields.
	type field struct {
		node  *yamlv3.Node
		label string
		patch bool // may be an inline patch
	}
	var fields []field
	scalar := func(key string, patch bool) {
		if v := mapValue(n, key); v != nil && v.Kind == yamlv3.ScalarNode && v.Value != "" {
			fields = append(fields, field{v, key, patch})
		}
	}
	seq := func(key string, patch bool) {
		if v := mapValue(n, key); v != nil && v.Kind == yamlv3.SequenceNode {
			for _, it := range v.Content {
				if it.Kind == yamlv3.ScalarNode {
					fields = append(fields, field{it, key + " entry", patch})
				}
			}
		}
	}
	switch kind {
	case "PatchTransformer", "PatchJson6902Transformer":
		scalar("path", false)
	case "PatchStrategicMergeTransformer":
		seq("paths", true)
	case "ValueAddTransformer":
		scalar("targetFilePath", false)
	case "ReplacementTransformer":
		if rs := mapValue(n, "replacements"); rs != nil && rs.Kind == yamlv3.SequenceNode {
			for _, r := range rs.Content {
				if v := mapValue(r, "path"); v != nil && v.Kind == yamlv3.ScalarNode && v.Value != "" {
					fields = append(fields, field{v, "replacements path", false})
				}
			}
		}
	case "ConfigMapGenerator", "SecretGenerator":
		seq("files", false)
		seq("envs", false)
		scalar("env", false)
	}
	for _, f := range fields {
		v := f.node.Value
		if kind == "ConfigMapGenerator" || kind == "SecretGenerator" {
			v = fileSourcePath(v)
		}
		if f.patch {
			if _, err := s.rmf.RF().SliceFromBytes([]byte(v)); err == nil {
				continue
			}
		}
		fail := func(format string, args ...any) error {
			return &RenderError{at(f.node), fmt.Errorf("%s %s %q: %s", kind, f.label, v, fmt.Sprintf(format, args...))}
		}
		if why := remote(v); why != "" {
			return fail("%s: remote files are not allowed (kustomize would fetch it); copy the file into this repository", why)
		}
		p, err := s.fs.join(owner, v)
		if err != nil {
			return fail("%v", err)
		}
		data, err := s.fs.read(p)
		if err != nil {
			return fail("%v", err)
		}
		s.files[p] = data
	}
	return nil
}

// run builds the rendered directory with kustomize in memory, from the
// files the scan read.
func (s *kustomizeScan) run() (resmap.ResMap, error) {
	mem := filesys.MakeFsInMemory()
	for p, data := range s.files {
		if err := mem.WriteFile("/"+p, data); err != nil {
			return nil, err
		}
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	return k.Run(mem, path.Join("/", s.fs.dir))
}

// inner is a fileError without its file name, for a RenderError naming
// the file already.
func inner(err error) error {
	var fe *fileError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// gitUser is how kustomize recognises user@host:path git addresses.
var gitUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// urlScheme is a URL scheme followed by its colon.
var urlScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// remote says why kustomize might fetch an entry instead of reading a file
// of the repository: it is a URL, or a git address. Broader than
// kustomize's own parsing on purpose (a file name with a colon, or
// starting with name@, is refused too): anything kustomize could take for
// a repository is refused.
func remote(entry string) string {
	s := strings.TrimSpace(entry)
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "git::"):
		return "a go-getter address (git::)"
	case strings.Contains(s, "://"):
		return "a URL"
	case urlScheme.MatchString(s):
		return "a URL (" + s[:strings.IndexByte(s, ':')+1] + ")"
	case strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:"):
		return "a GitHub repository"
	case gitUser.MatchString(s):
		return "a git address (user@host)"
	}
	return ""
}

// isHTTPURL is kustomize's test for a file it GETs.
func isHTTPURL(s string) bool {
	u, err := url.Parse(strings.TrimSpace(s))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

// fileSourcePath is the path of a generator's files entry: "key=path" or
// "path".
func fileSourcePath(s string) string {
	if k, p, ok := strings.Cut(s, "="); ok && k != "" && p != "" && !strings.Contains(p, "=") {
		return p
	}
	return s
}

func kindOf(n *yamlv3.Node) string {
	if v := mapValue(n, "kind"); v != nil && v.Kind == yamlv3.ScalarNode {
		return v.Value
	}
	return "plugin"
}

func mapValue(n *yamlv3.Node, key string) *yamlv3.Node {
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

// walkScalars calls f on every scalar under n until it returns false.
func walkScalars(n *yamlv3.Node, f func(*yamlv3.Node) bool) bool {
	switch n.Kind {
	case yamlv3.ScalarNode:
		return f(n)
	case yamlv3.AliasNode:
		return true // its anchor is walked where it is defined
	}
	for _, c := range n.Content {
		if !walkScalars(c, f) {
			return false
		}
	}
	return true
}

// lineAt returns the line of a field of a YAML document (keys and list
// indexes), or of the nearest enclosing one found.
func lineAt(doc *yamlv3.Node, loc ...any) int {
	n := doc
	if n.Kind == yamlv3.DocumentNode {
		if len(n.Content) == 0 {
			return 0
		}
		n = n.Content[0]
	}
	return LineIn(n, 0, loc)
}
