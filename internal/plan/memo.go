package plan

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// memoReader remembers Namespaces and ProviderConfigs for the length of one
// plan: every object's cloud plan resolves its provider, and a thousand
// objects in one namespace need those two objects read once, not a
// thousand times.
type memoReader struct {
	client.Reader
	mu   sync.Mutex
	seen map[string]client.Object
}

func newMemoReader(r client.Reader) *memoReader {
	return &memoReader{Reader: r, seen: map[string]client.Object{}}
}

func (m *memoReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	var kind string
	switch obj.(type) {
	case *corev1.Namespace:
		kind = "Namespace"
	case *corev1alpha1.ProviderConfig:
		kind = "ProviderConfig"
	default:
		return m.Reader.Get(ctx, key, obj, opts...)
	}
	k := kind + "/" + key.String()
	m.mu.Lock()
	cached, ok := m.seen[k]
	m.mu.Unlock()
	if ok {
		switch o := obj.(type) {
		case *corev1.Namespace:
			cached.(*corev1.Namespace).DeepCopyInto(o)
		case *corev1alpha1.ProviderConfig:
			cached.(*corev1alpha1.ProviderConfig).DeepCopyInto(o)
		}
		return nil
	}
	if err := m.Reader.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	m.mu.Lock()
	m.seen[k] = obj.DeepCopyObject().(client.Object)
	m.mu.Unlock()
	return nil
}
