package backport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/infraplane/infraplane/internal/gitops"
)

// kustomizationFiles are the names kustomize recognises.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// apply edits the manifests under root (inside the clone repoDir) and
// returns the changed files relative to repoDir, after checking that the
// rendered objects now have every value.
func apply(repoDir, root string, changes []Change) ([]string, error) {
	objs, err := render(repoDir, root)
	if err != nil {
		return nil, fmt.Errorf("rendering the manifests: %w", err)
	}
	original := map[string][]byte{} // file → contents before editing
	edited := map[string][]byte{}
	for _, c := range changes {
		id := idOf(c.APIVersion, c.Kind, c.Name)
		obj := find(objs, id)
		if obj == nil {
			return nil, fmt.Errorf("%s (API group %q) is not defined in the manifests under %s", id, id.group, relTo(repoDir, root))
		}
		var todo []Field
		for _, f := range c.Fields {
			if !has(obj.Unstructured, f) {
				todo = append(todo, f)
			}
		}
		if len(todo) == 0 {
			continue
		}
		file, err := sourceFile(repoDir, root, obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		data, ok := edited[file]
		if !ok {
			if data, err = os.ReadFile(file); err != nil {
				return nil, err
			}
			original[file] = data
		}
		for _, f := range todo {
			if data, err = setField(data, id, f.Path, f.Value, f.Remove); err != nil {
				return nil, fmt.Errorf("editing %s in %s: %w", id, relTo(repoDir, file), err)
			}
		}
		edited[file] = data
	}
	var files []string
	for file, data := range edited {
		if bytes.Equal(data, original[file]) {
			continue
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			return nil, err
		}
		files = append(files, relTo(repoDir, file))
	}
	sort.Strings(files)
	if err := verify(repoDir, root, changes); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, ErrUpToDate
	}
	return files, nil
}

// render renders root like the syncer does, but asks kustomize to record
// which file each object came from; the kustomization file is restored.
func render(repoDir, root string) ([]gitops.Object, error) {
	for _, name := range kustomizationFiles {
		path := filepath.Join(root, name)
		orig, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var k map[string]any
		if yaml.Unmarshal(orig, &k) != nil || k == nil {
			break // let Render report it
		}
		meta, _ := k["buildMetadata"].([]any)
		k["buildMetadata"] = append(meta, "originAnnotations")
		out, err := yaml.Marshal(k)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return nil, err
		}
		defer os.WriteFile(path, orig, 0o644)
		break
	}
	return gitops.Render(repoDir, root)
}

func find(objs []gitops.Object, id objectID) *gitops.Object {
	for i := range objs {
		if idOf(objs[i].GetAPIVersion(), objs[i].GetKind(), objs[i].GetName()) == id {
			return &objs[i]
		}
	}
	return nil
}

// has says whether the rendered object already has f.
func has(u *unstructured.Unstructured, f Field) bool {
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, f.Path...)
	if f.Remove {
		return !found
	}
	return err == nil && found && equalJSON(v, f.Value)
}

// sourceFile is the file defining obj, which must be inside the clone.
func sourceFile(repoDir, root string, obj *gitops.Object) (string, error) {
	name := obj.Source.File
	for _, k := range kustomizationFiles {
		if filepath.Base(name) == k {
			return "", fmt.Errorf("kustomize generates it (it comes from no manifest file); change its generator in %s by hand", name)
		}
	}
	file := filepath.Join(root, filepath.FromSlash(name))
	if rel, err := filepath.Rel(repoDir, file); err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("it is defined in %s, outside the repository", name)
	}
	return file, nil
}

// verify renders again and checks every field; a value that did not take
// is set elsewhere, typically by a kustomize patch, which it names.
func verify(repoDir, root string, changes []Change) error {
	objs, err := render(repoDir, root)
	if err != nil {
		return fmt.Errorf("the edited manifests no longer render: %w", err)
	}
	var errs []error
	for _, c := range changes {
		id := idOf(c.APIVersion, c.Kind, c.Name)
		obj := find(objs, id)
		if obj == nil {
			errs = append(errs, fmt.Errorf("%s is missing after editing", id))
			continue
		}
		for _, f := range c.Fields {
			if has(obj.Unstructured, f) {
				continue
			}
			field := strings.Join(f.Path, ".")
			want := fmt.Sprintf("%v", f.Value)
			if f.Remove {
				want = "absent"
			}
			got, found, _ := unstructured.NestedFieldNoCopy(obj.Object, f.Path...)
			if !found {
				got = "absent"
			}
			where := "something else in the kustomization (a patch or transformer) sets it"
			if file := whoSets(repoDir, root, id, f.Path, obj); file != "" {
				where = "it is set in " + file
			}
			errs = append(errs, fmt.Errorf("%s: %s is still %v after editing %s, not %s: %s; change it there by hand",
				id, field, got, relTo(repoDir, filepath.Join(root, obj.Source.File)), want, where))
		}
	}
	return errors.Join(errs...)
}

// whoSets finds another manifest under root (a patch) for id that has path.
func whoSets(repoDir, root string, id objectID, path []string, obj *gitops.Object) string {
	var found string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := strings.ToLower(filepath.Ext(p)); (ext != ".yaml" && ext != ".yml") || p == filepath.Join(root, obj.Source.File) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc yaml.Node
			if dec.Decode(&doc) != nil {
				return nil
			}
			if len(doc.Content) == 0 || !matches(doc.Content[0], id) {
				continue
			}
			n := doc.Content[0]
			for _, seg := range path {
				if n = lookup(n, seg); n == nil {
					break
				}
			}
			if n != nil {
				found = relTo(repoDir, p)
				return filepath.SkipAll
			}
		}
	})
	return found
}

func relTo(dir, path string) string {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return path
	}
	if rel == "." {
		return "the repository root"
	}
	return filepath.ToSlash(rel)
}
