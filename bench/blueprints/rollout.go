package main

import (
	"context"
	"fmt"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// rollout makes step n of -change in the Blueprint (a new revision),
// with the given rollout settings, and waits until the rollout is
// Complete and every Queue is Ready on the new revision.
func (b *bench) rollout(ctx context.Context, label string, n int, settings *corev1alpha1.BlueprintRollout) (rolloutResult, error) {
	res := rolloutResult{label: label}
	if b.cfg.settle > 0 {
		step("waiting until the Queue controller has been idle for %s (untimed)", b.cfg.settle)
		var err error
		if res.settled, err = b.settle(ctx); err != nil {
			return res, err
		}
	}
	var t0 time.Time
	b.rec.takeChanges()
	before := takeSnapshot()
	stopProfile := b.profile(fmt.Sprintf("rollout-%d", n))
	defer stopProfile()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		bp := &corev1alpha1.Blueprint{}
		if err := b.admin.Get(ctx, client.ObjectKey{Name: b.bp.Name}, bp); err != nil {
			return err
		}
		if ro := bp.Status.Rollout; ro == nil || ro.Phase != corev1alpha1.RolloutComplete {
			return fmt.Errorf("Blueprint %s: the rollout before this one is not Complete (%+v); see `infraplane fleet status %s`", bp.Name, ro, bp.Name)
		}
		res.revision = bp.Status.LatestRevision + 1
		if err := b.cfg.change.apply(bp, n); err != nil {
			return err
		}
		bp.Spec.Rollout = settings
		t0 = time.Now()
		return b.admin.Update(ctx, bp)
	})
	if err != nil {
		return res, fmt.Errorf("updating Blueprint %s: %w", b.bp.Name, err)
	}
	step("rollout of revision %d, %s: Blueprint updated; waiting until Complete and all %d Queues Ready on it", res.revision, label, b.cfg.queues)
	var completeAt, readyAt time.Duration
	_, err = b.waitFor(ctx, fmt.Sprintf("rollout of revision %d", res.revision), func(ctx context.Context) (bool, string, error) {
		complete, progress, err := b.rolledOut(ctx, res.revision)
		if err != nil {
			return false, "", err
		}
		if complete && completeAt == 0 {
			completeAt = time.Since(t0)
		}
		ready, qprogress, err := b.queuesReady(ctx, nsQueues, b.cfg.queues, res.revision)
		if err != nil {
			return false, "", err
		}
		if ready && readyAt == 0 {
			readyAt = time.Since(t0)
		}
		return complete && ready, progress + "; " + qprogress, nil
	})
	if err != nil {
		return res, err
	}
	res.counts = since(before)
	res.allReady = readyAt
	res.complete = completeAt
	if at, ok := b.rec.completedAt(res.revision); ok {
		res.complete = at.Sub(t0) // the informer's time, not the 50 ms poll's
	}
	stopProfile()
	res.stages = b.rec.stages(res.revision, t0)
	res.queueChanges = b.rec.takeChanges()
	step("rollout of revision %d: Complete after %s, all Ready after %s, %d stages", res.revision, secs(res.complete), secs(res.allReady), len(res.stages))
	if res.cloud, err = b.checkCloud(ctx, n); err != nil {
		return res, err
	}
	return res, nil
}

// settle waits until the Queue controller has done no reconcile for
// -settle, and says how long that took.
func (b *bench) settle(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	last, quietSince := reconcilesOf(b.instanceController()), time.Now()
	for time.Since(quietSince) < b.cfg.settle {
		if time.Since(t0) > b.cfg.timeout+b.cfg.settle {
			return 0, fmt.Errorf("the Queue controller did not go idle for %s within %s (-settle, -timeout)", b.cfg.settle, b.cfg.timeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if n := reconcilesOf(b.instanceController()); n != last {
			last, quietSince = n, time.Now()
		}
	}
	return time.Since(t0), nil
}

// checkCloud counts the Queues' cloud resources that show step n of
// -change (untimed): the rollout reached the cloud.
func (b *bench) checkCloud(ctx context.Context, n int) (string, error) {
	copts := b.cloud.PubSubClientOptions()
	topics, err := pubsubapi.NewTopicAdminClient(ctx, copts...)
	if err != nil {
		return "", err
	}
	defer topics.Close()
	subs, err := pubsubapi.NewSubscriptionAdminClient(ctx, copts...)
	if err != nil {
		return "", err
	}
	defer subs.Close()
	return b.cfg.change.check(ctx, cloudClients{topics: topics, subs: subs}, project(nsQueues), n)
}
