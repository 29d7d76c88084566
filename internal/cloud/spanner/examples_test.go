package spanner_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The example manifests become Ready on the emulator.
func TestExamplesRun(t *testing.T) {
	s := onEmulator(t)
	objs := examples(t)
	for _, u := range objs {
		u.SetNamespace(s.ns)
		if err := env.Client.Create(context.Background(), u); err != nil {
			t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	for _, u := range objs {
		var obj testenv.Managed
		switch u.GetKind() {
		case "SpannerInstance":
			obj = &spannerv1.SpannerInstance{}
		case "SpannerDatabase":
			obj = &spannerv1.SpannerDatabase{}
		default:
			t.Fatalf("unexpected kind %s", u.GetKind())
		}
		obj.SetNamespace(s.ns)
		obj.SetName(u.GetName())
		env.WaitReady(t, obj)
		env.WaitSynced(t, obj)
	}
}

// examples reads the manifests of examples/spanner.
func examples(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob("../../../examples/spanner/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) > 0 {
				out = append(out, &u)
			}
		}
	}
	return out
}
