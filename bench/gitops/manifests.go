package main

import (
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// manifests returns n/2 topics and n/2 subscriptions (subscription i on
// topic i), perFile objects per file, the first subscription file first.
func manifests(n, perFile int, ack int) map[string]string {
	files := map[string]string{}
	half := n / 2
	add := func(prefix string, i int, doc string) {
		name := fmt.Sprintf("%s-%04d.yaml", prefix, i/perFile)
		if files[name] != "" {
			files[name] += "---\n"
		}
		files[name] += doc
	}
	for i := range half {
		add("topics", i, fmt.Sprintf("apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: topic-%05d\nspec:\n  labels:\n    team: bench\n", i))
	}
	for i := range half {
		add("subscriptions", i, fmt.Sprintf("apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Subscription\nmetadata:\n  name: sub-%05d\nspec:\n  topicRef:\n    name: topic-%05d\n  ackDeadlineSeconds: %d\n", i, i, ack))
	}
	return files
}

var firstAck = regexp.MustCompile(`ackDeadlineSeconds: \d+`)

// replaceFirstAck sets the first subscription's ack deadline in a file.
func replaceFirstAck(doc string, ack int32) string {
	done := false
	return firstAck.ReplaceAllStringFunc(doc, func(m string) string {
		if done {
			return m
		}
		done = true
		return fmt.Sprintf("ackDeadlineSeconds: %d", ack)
	})
}

type unstructuredList struct {
	u *unstructured.UnstructuredList
}

func (l *unstructuredList) init(kind string) {
	l.u = &unstructured.UnstructuredList{}
	l.u.SetAPIVersion("pubsub.infraplane.dev/v1alpha1")
	l.u.SetKind(kind)
}

// unstructuredConditions maps condition type to status.
func unstructuredConditions(obj map[string]any) (map[string]string, bool, error) {
	out := map[string]string{}
	conds, ok, err := unstructured.NestedSlice(obj, "status", "conditions")
	if !ok || err != nil {
		return out, ok, err
	}
	for _, c := range conds {
		m, _ := c.(map[string]any)
		t, _ := m["type"].(string)
		s, _ := m["status"].(string)
		out[t] = s
	}
	return out, true, nil
}

func metricsOff() metricsserver.Options { return metricsserver.Options{BindAddress: "0"} }
