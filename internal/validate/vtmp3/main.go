package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/scheme"
)

func main() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cp")
	defer os.RemoveAll(dir)
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	defer cp.Stop(context.Background())
	c, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme.New()})
	if err != nil {
		panic(err)
	}
	if err := crds.Install(ctx, cp.RESTConfig()); err != nil {
		panic(err)
	}
	time.Sleep(2 * time.Second)
	for _, f := range os.Args[1:] {
		data, _ := os.ReadFile(f)
		for i, doc := range strings.Split(string(data), "\n---\n") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || u.Object == nil || !strings.Contains(u.GetAPIVersion(), "infraplane") {
				continue
			}
			if u.GetNamespace() == "" {
				u.SetNamespace("default")
			}
			err := c.Create(ctx, u, client.DryRunAll, client.FieldValidation("Strict"))
			fmt.Printf("== %s#%d %s/%s\n   %v\n", filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), i, u.GetKind(), u.GetName(), err)
		}
	}
}
