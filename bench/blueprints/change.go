package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A change is what each rollout changes in the Blueprint's templates.
// Step 1 is the first rollout, step 2 the second.
type change struct {
	name, describe string
	apply          func(bp *corev1alpha1.Blueprint, step int) error
	// check reads the Queues' project in the cloud and says how many
	// resources show the change (untimed).
	check func(ctx context.Context, c cloudClients, project string, step int) (string, error)
}

type cloudClients struct {
	topics *pubsubapi.TopicAdminClient
	subs   *pubsubapi.SubscriptionAdminClient
}

var changes = map[string]change{
	"labels": {
		name:     "labels",
		describe: "adds the cloud label standard=rev-N to every child (three child updates per Queue)",
		apply: func(bp *corev1alpha1.Blueprint, step int) error {
			return editTemplates(bp, func(tmpl map[string]any) error {
				return unstructured.SetNestedField(tmpl, standardLabel(step), "spec", "labels", "standard")
			})
		},
		check: func(ctx context.Context, c cloudClients, project string, step int) (string, error) {
			want := standardLabel(step)
			topics, labelled, err := countTopics(ctx, c, project, func(t *pubsubpb.Topic) bool { return t.GetLabels()["standard"] == want })
			if err != nil {
				return "", err
			}
			subs, subsLabelled, err := countSubscriptions(ctx, c, project, func(s *pubsubpb.Subscription) bool { return s.GetLabels()["standard"] == want })
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%d/%d topics and %d/%d subscriptions labelled standard=%s", labelled, topics, subsLabelled, subs, want), nil
		},
	},
	"retention": {
		name:     "retention",
		describe: "shortens the subscription's messageRetentionDuration by an hour (one child update per Queue)",
		apply: func(bp *corev1alpha1.Blueprint, step int) error {
			return editTemplates(bp, func(tmpl map[string]any) error {
				if tmpl["kind"] != "Subscription" {
					return nil
				}
				return unstructured.SetNestedField(tmpl, fmt.Sprintf("${spec.retentionDays * 24 - %d}h", step), "spec", "messageRetentionDuration")
			})
		},
		check: func(ctx context.Context, c cloudClients, project string, step int) (string, error) {
			days, _ := queueSpec["retentionDays"].(int64)
			want := time.Duration(days*24-int64(step)) * time.Hour
			subs, changed, err := countSubscriptions(ctx, c, project, func(s *pubsubpb.Subscription) bool {
				return s.GetMessageRetentionDuration().AsDuration() == want
			})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%d/%d subscriptions retain messages for %s", changed, subs, want), nil
		},
	},
}

func standardLabel(step int) string { return fmt.Sprintf("rev-%d", step+1) }

// editTemplates edits every resource template of the Blueprint.
func editTemplates(bp *corev1alpha1.Blueprint, edit func(map[string]any) error) error {
	for i := range bp.Spec.Resources {
		r := &bp.Spec.Resources[i]
		var tmpl map[string]any
		if err := json.Unmarshal(r.Template.Raw, &tmpl); err != nil {
			return fmt.Errorf("template of %s: %w", r.ID, err)
		}
		if err := edit(tmpl); err != nil {
			return fmt.Errorf("template of %s: %w", r.ID, err)
		}
		raw, err := json.Marshal(tmpl)
		if err != nil {
			return err
		}
		r.Template.Raw, r.Template.Object = raw, nil
	}
	return nil
}

// countTopics counts the project's topics, and those ok accepts.
func countTopics(ctx context.Context, c cloudClients, project string, ok func(*pubsubpb.Topic) bool) (all, matching int, err error) {
	it := c.topics.ListTopics(ctx, &pubsubpb.ListTopicsRequest{Project: "projects/" + project})
	for {
		t, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return all, matching, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("listing the topics of project %s: %w", project, err)
		}
		all++
		if ok(t) {
			matching++
		}
	}
}

// countSubscriptions counts the project's subscriptions, and those ok
// accepts.
func countSubscriptions(ctx context.Context, c cloudClients, project string, ok func(*pubsubpb.Subscription) bool) (all, matching int, err error) {
	it := c.subs.ListSubscriptions(ctx, &pubsubpb.ListSubscriptionsRequest{Project: "projects/" + project})
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return all, matching, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("listing the subscriptions of project %s: %w", project, err)
		}
		all++
		if ok(s) {
			matching++
		}
	}
}
