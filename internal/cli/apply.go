package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// applyManifests server-side-applies every object in files (name ->
// multi-document YAML) into namespace, as field manager owner. All files
// are parsed before anything is applied, so a broken file applies nothing.
func applyManifests(ctx context.Context, c client.Client, files map[string][]byte, namespace, owner string) ([]*unstructured.Unstructured, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(files[name]), 4096)
		for i := 1; ; i++ {
			u := &unstructured.Unstructured{}
			err := dec.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if u.GetKind() == "" || u.GetAPIVersion() == "" {
				return nil, fmt.Errorf("%s: document %d has no apiVersion or kind", name, i)
			}
			if u.GetNamespace() == "" {
				u.SetNamespace(namespace)
			}
			objs = append(objs, u)
		}
	}
	for _, u := range objs {
		//nolint:staticcheck // client.Apply with unstructured is the supported SSA path here.
		if err := c.Patch(ctx, u, client.Apply, client.FieldOwner(owner), client.ForceOwnership); err != nil {
			return nil, fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return objs, nil
}
