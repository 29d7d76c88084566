package gitops_test

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func clientKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
