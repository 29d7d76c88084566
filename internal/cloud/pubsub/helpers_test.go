package pubsub_test

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func clientKey(obj client.Object) client.ObjectKey { return client.ObjectKeyFromObject(obj) }
