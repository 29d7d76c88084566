package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
)

// pollInterval is how often the waits read the controllers' informers.
// The reads never copy the cached objects (client.UnsafeDisableDeepCopy,
// read only): copying 200 Queues every 50 ms cost 9 % of the process's
// CPU in a first version.
const pollInterval = 50 * time.Millisecond

// check says whether a wait is over, and where it stands.
type check func(ctx context.Context) (done bool, progress string, err error)

// waitFor polls check until it is done, for at most -timeout. On timeout
// the error says where it stood, with the Blueprint's fleet status.
func (b *bench) waitFor(ctx context.Context, what string, c check) (time.Duration, error) {
	t0 := time.Now()
	for {
		done, progress, err := c(ctx)
		if err != nil {
			return 0, fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return time.Since(t0), nil
		}
		if time.Since(t0) > b.cfg.timeout {
			return 0, fmt.Errorf("waiting for %s: not done after %s (-timeout): %s\n%s", what, b.cfg.timeout, progress, b.fleet(ctx))
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %s: %w (%s)", what, ctx.Err(), progress)
		case <-time.After(pollInterval):
		}
	}
}

// fleet is `infraplane fleet status` of the Blueprint, with the first
// instances that are not Ready.
func (b *bench) fleet(ctx context.Context) string {
	fleet, err := blueprint.Fleet(ctx, b.admin, b.bp.Name, true)
	if err != nil {
		return "fleet status: " + err.Error()
	}
	for i := range fleet {
		fleet[i].Items = fleet[i].Items[:min(len(fleet[i].Items), 10)]
	}
	var out strings.Builder
	blueprint.WriteFleet(&out, fleet)
	return out.String()
}

// blueprintServing: the CRD is established and the first revision made.
func (b *bench) blueprintServing(ctx context.Context) (bool, string, error) {
	bp := &corev1alpha1.Blueprint{}
	if err := b.cache.Get(ctx, client.ObjectKey{Name: b.bp.Name}, bp, client.UnsafeDisableDeepCopy); err != nil {
		return false, "", client.IgnoreNotFound(err)
	}
	c := meta.FindStatusCondition(bp.Status.Conditions, corev1alpha1.BlueprintReady)
	if c == nil {
		return false, "no Ready condition yet", nil
	}
	return c.Status == metav1.ConditionTrue && bp.Status.LatestRevision > 0, c.Reason + ": " + c.Message, nil
}

// queuesReady: n Queues in ns are Ready for their current generation
// (and, when rev > 0, on revision rev: its label and status.revision).
func (b *bench) queuesReady(ctx context.Context, ns string, n int, rev int64) (bool, string, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(b.compiled.GVK.GroupVersion().WithKind(b.compiled.GVK.Kind + "List"))
	if err := b.cache.List(ctx, list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return false, "", err
	}
	ready := 0
	var notReady string
	for i := range list.Items {
		u := &list.Items[i]
		ok, why := queueReady(u, rev)
		if ok {
			ready++
		} else if notReady == "" {
			notReady = fmt.Sprintf(" (%s: %s)", u.GetName(), why)
		}
	}
	on := ""
	if rev > 0 {
		on = fmt.Sprintf(" on revision %d", rev)
	}
	return ready >= n, fmt.Sprintf("%d/%d Queues Ready%s%s", ready, n, on, notReady), nil
}

func queueReady(u *unstructured.Unstructured, rev int64) (bool, string) {
	if rev > 0 {
		applied, _, _ := unstructured.NestedInt64(u.Object, "status", "revision")
		if label := u.GetLabels()[corev1alpha1.BlueprintRevisionLabel]; label != fmt.Sprint(rev) || applied != rev {
			return false, fmt.Sprintf("revision %s, applied %d", label, applied)
		}
	}
	conds, _, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "conditions")
	list, _ := conds.([]any)
	for _, x := range list {
		m, _ := x.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		gen, _ := m["observedGeneration"].(int64)
		if gen != u.GetGeneration() {
			return false, "not reconciled since its last change"
		}
		msg, _ := m["message"].(string)
		return m["status"] == "True", fmt.Sprint(m["reason"], ": ", msg)
	}
	return false, "no Ready condition yet"
}

// childrenReady: n topics and subscriptions in ns are Ready.
func (b *bench) childrenReady(ns string, n int) check {
	return func(ctx context.Context) (bool, string, error) {
		topics, subs := &pubsubv1.TopicList{}, &pubsubv1.SubscriptionList{}
		if err := b.cache.List(ctx, topics, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return false, "", err
		}
		if err := b.cache.List(ctx, subs, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return false, "", err
		}
		ready, total := 0, 0
		var notReady string
		count := func(name string, st *commonv1.ManagedStatus) {
			total++
			c := meta.FindStatusCondition(st.Conditions, commonv1.TypeReady)
			if c != nil && c.Status == metav1.ConditionTrue {
				ready++
			} else if c != nil && notReady == "" {
				notReady = fmt.Sprintf(" (%s: %s: %s)", name, c.Reason, c.Message)
			}
		}
		for i := range topics.Items {
			count("Topic "+topics.Items[i].Name, topics.Items[i].ManagedStatus())
		}
		for i := range subs.Items {
			count("Subscription "+subs.Items[i].Name, subs.Items[i].ManagedStatus())
		}
		return ready >= n, fmt.Sprintf("%d/%d Ready of %d created%s", ready, n, total, notReady), nil
	}
}

func childKinds() []client.Object {
	return []client.Object{&pubsubv1.Subscription{}, &pubsubv1.Topic{}}
}

// empty: no Queue, topic or subscription is left in ns.
func (b *bench) empty(ctx context.Context, ns string) (bool, string, error) {
	queues := &unstructured.UnstructuredList{}
	queues.SetGroupVersionKind(b.compiled.GVK.GroupVersion().WithKind(b.compiled.GVK.Kind + "List"))
	topics, subs := &pubsubv1.TopicList{}, &pubsubv1.SubscriptionList{}
	for _, l := range []client.ObjectList{queues, topics, subs} {
		if err := b.cache.List(ctx, l, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return false, "", err
		}
	}
	left := len(queues.Items) + len(topics.Items) + len(subs.Items)
	return left == 0, fmt.Sprintf("%d Queues, %d topics, %d subscriptions left", len(queues.Items), len(topics.Items), len(subs.Items)), nil
}

// rolledOut: the Blueprint's rollout of rev is Complete and rev is stable.
func (b *bench) rolledOut(ctx context.Context, rev int64) (bool, string, error) {
	bp := &corev1alpha1.Blueprint{}
	if err := b.cache.Get(ctx, client.ObjectKey{Name: b.bp.Name}, bp, client.UnsafeDisableDeepCopy); err != nil {
		return false, "", err
	}
	st := bp.Status
	ro := st.Rollout
	if ro == nil {
		return false, "no rollout status yet", nil
	}
	done := st.ObservedGeneration == bp.Generation && st.LatestRevision == rev && st.StableRevision == rev &&
		ro.Revision == rev && ro.Phase == corev1alpha1.RolloutComplete
	return done, fmt.Sprintf("rollout of revision %d: %s, %d/%d updated: %s", ro.Revision, ro.Phase, ro.Updated, ro.Total, ro.Message), nil
}
