package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// applyQueues creates n Queues in ns and waits until all are Ready: the
// creates' and the Ready time, from the first create.
func (b *bench) applyQueues(ctx context.Context, ns string, n int) (accepted, ready time.Duration, err error) {
	t0 := time.Now()
	err = parallel(ctx, n, b.cfg.createWorkers, func(ctx context.Context, i int) error {
		return b.admin.Create(ctx, newQueue(b.compiled.GVK, ns, i))
	})
	if err != nil {
		return 0, 0, fmt.Errorf("creating Queues in %s: %w", ns, err)
	}
	accepted = time.Since(t0)
	if _, err := b.waitFor(ctx, fmt.Sprintf("%d Queues Ready in %s", n, ns), func(ctx context.Context) (bool, string, error) {
		return b.queuesReady(ctx, ns, n, 0)
	}); err != nil {
		return 0, 0, err
	}
	return accepted, time.Since(t0), nil
}

// directAllAtOnce creates every Queue's children at once, each Queue's
// in the Blueprint's creation order, and waits until all are Ready:
// subscriptions created before their topics are Ready wait for them
// through their references, as after `kubectl apply -f dir`.
func (b *bench) directAllAtOnce(ctx context.Context) (phaseResult, error) {
	objs, err := b.children(nsDirectAll, func(*unstructured.Unstructured) bool { return true })
	if err != nil {
		return phaseResult{}, err
	}
	step("direct, all at once: %d children (%d parallel creates) until all Ready", len(objs), b.cfg.createWorkers)
	before := takeSnapshot()
	stopProfile := b.profile("direct-all")
	defer stopProfile()
	t0 := time.Now()
	if err := b.create(ctx, objs); err != nil {
		return phaseResult{}, err
	}
	r := phaseResult{accepted: time.Since(t0)}
	if _, err := b.waitFor(ctx, "direct children Ready", b.childrenReady(nsDirectAll, len(objs))); err != nil {
		return r, err
	}
	r.ready = time.Since(t0)
	r.counts = since(before)
	stopProfile()
	step("direct, all at once: Ready after %s; deleting them (untimed)", secs(r.ready))
	return r, b.deleteAll(ctx, nsDirectAll)
}

// directInOrder creates every topic, waits until all are Ready, then
// creates every subscription and waits again: dependency order, applied
// by a user who waits between the two steps.
func (b *bench) directInOrder(ctx context.Context) (phaseResult, error) {
	isTopic := func(u *unstructured.Unstructured) bool { return u.GetKind() == "Topic" }
	topics, err := b.children(nsDirectOrdered, isTopic)
	if err != nil {
		return phaseResult{}, err
	}
	subs, err := b.children(nsDirectOrdered, func(u *unstructured.Unstructured) bool { return !isTopic(u) })
	if err != nil {
		return phaseResult{}, err
	}
	step("direct, in order: %d topics until Ready, then %d subscriptions until Ready", len(topics), len(subs))
	before := takeSnapshot()
	t0 := time.Now()
	if err := b.create(ctx, topics); err != nil {
		return phaseResult{}, err
	}
	r := phaseResult{}
	if _, err := b.waitFor(ctx, "direct topics Ready", b.childrenReady(nsDirectOrdered, len(topics))); err != nil {
		return r, err
	}
	r.firstStep = time.Since(t0)
	if err := b.create(ctx, subs); err != nil {
		return r, err
	}
	r.accepted = time.Since(t0)
	if _, err := b.waitFor(ctx, "direct subscriptions Ready", b.childrenReady(nsDirectOrdered, len(topics)+len(subs))); err != nil {
		return r, err
	}
	r.ready = time.Since(t0)
	r.counts = since(before)
	step("direct, in order: topics Ready after %s, all after %s; deleting them (untimed)", secs(r.firstStep), secs(r.ready))
	return r, b.deleteAll(ctx, nsDirectOrdered)
}

// children renders the children of every Queue into ns, keeping those
// keep selects, Queue by Queue.
func (b *bench) children(ns string, keep func(*unstructured.Unstructured) bool) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i := range b.cfg.queues {
		objs, err := directChildren(b.compiled, ns, i)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if keep(o) {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

func (b *bench) create(ctx context.Context, objs []*unstructured.Unstructured) error {
	return parallel(ctx, len(objs), b.cfg.createWorkers, func(ctx context.Context, i int) error {
		if err := b.admin.Create(ctx, objs[i].DeepCopy()); err != nil {
			return fmt.Errorf("creating %s %s/%s: %w", objs[i].GetKind(), objs[i].GetNamespace(), objs[i].GetName(), err)
		}
		return nil
	})
}

// deleteAll deletes the Queues and children of ns and waits until they
// are gone (their cloud resources with them): idle pstest subscriptions
// cost CPU that later phases should not pay for.
func (b *bench) deleteAll(ctx context.Context, ns string) error {
	q := &unstructured.Unstructured{}
	q.SetGroupVersionKind(b.compiled.GVK)
	for _, o := range append([]client.Object{q}, childKinds()...) {
		if err := b.admin.DeleteAllOf(ctx, o, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("deleting the %T objects of %s: %w", o, ns, err)
		}
	}
	_, err := b.waitFor(ctx, "everything in "+ns+" deleted", func(ctx context.Context) (bool, string, error) {
		return b.empty(ctx, ns)
	})
	return err
}
