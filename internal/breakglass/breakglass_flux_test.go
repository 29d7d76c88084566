package breakglass_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

// newPlainScenario is a namespace with a local cloud and no GitSource:
// something else (Flux, Argo CD, a person) applies its objects.
func newPlainScenario(t *testing.T) *scenario {
	t.Helper()
	cloud := cloudtest.Fakes(t)
	s := &scenario{cloud: cloud, ns: scenarioNamespace(t, cloud)}
	subs, err := pubsubapi.NewSubscriptionAdminClient(context.Background(), cloud.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { subs.Close() })
	s.subs = subs
	return s
}

// fluxObjects are the topic and subscription as Flux's Kustomization
// flux-system/apps applies them: with its labels.
func fluxObjects(t *testing.T, ns string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, y := range []string{topicYAML, subscriptionYAML} {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
			t.Fatal(err)
		}
		u.SetNamespace(ns)
		u.SetLabels(map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"})
		out = append(out, u)
	}
	return out
}

// fluxApplyOptions are the options kustomize-controller applies with
// (its apply step, Flux v2.x): the per-object switches as selectors, and
// the cleanup of other managers' fields.
func fluxApplyOptions() ssa.ApplyOptions {
	o := ssa.DefaultApplyOptions()
	o.ExclusionSelector = map[string]string{"kustomize.toolkit.fluxcd.io/reconcile": "disabled", "kustomize.toolkit.fluxcd.io/ssa": "ignore"}
	o.IfNotPresentSelector = map[string]string{"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
	o.ForceSelector = map[string]string{"kustomize.toolkit.fluxcd.io/force": "enabled"}
	o.Cleanup = ssa.ApplyCleanupOptions{
		Annotations: []string{corev1.LastAppliedConfigAnnotation, "kustomize.toolkit.fluxcd.io/checksum"},
		FieldManagers: []ssa.FieldManager{
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: "kustomize-controller", OperationType: metav1.ManagedFieldsOperationUpdate},
		},
		Exclusions: map[string]string{"kustomize.toolkit.fluxcd.io/ssa": "merge"},
	}
	return o
}

// A break-glass on an object Flux applies: for the window infraplane
// switches Flux's reconcile of it off, so Flux's own apply code leaves the
// edit in place; at the end it switches it back on (and leaves a switch
// someone else set), the report says what Flux will do, and Flux's next
// apply reverts the edit.
func TestBreakGlassOnFluxManagedObject(t *testing.T) {
	ctx := context.Background()
	s := newPlainScenario(t)
	p := newPeople(t)
	flux := ssa.NewResourceManager(env.Client, nil, ssa.Owner{Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io"})
	apply := func() map[string]ssa.Action {
		t.Helper()
		cs, err := flux.ApplyAll(ctx, fluxObjects(t, s.ns), fluxApplyOptions())
		if err != nil {
			t.Fatalf("Flux's apply: %v", err)
		}
		out := map[string]ssa.Action{}
		for _, e := range cs.Entries {
			out[e.ObjMetadata.GroupKind.Kind] = e.Action
		}
		return out
	}
	apply()
	s.waitReady(t, "orders-worker")
	annotations := func(o client.Object) map[string]string {
		t.Helper()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		return o.GetAnnotations()
	}
	// Someone switched Flux off on the topic already: not ours to undo.
	topic := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "orders"}}
	if err := env.Client.Patch(ctx, topic, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"kustomize.toolkit.fluxcd.io/reconcile":"disabled"}}}`))); err != nil {
		t.Fatal(err)
	}

	bg, err := breakglass.Open(ctx, p.oncall, breakglass.OpenRequest{
		Namespace: s.ns, Targets: []string{"subscription/orders-worker", "topic/orders"}, Reason: "INC-77 backlog: raise the ack deadline", Duration: time.Hour,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "orders-worker"}}
	if a := annotations(sub); a[breakglass.FluxReconcileAnnotation] != "disabled" || a[breakglass.FluxDisabledByAnnotation] != bg.Name {
		t.Fatalf("while open, the subscription's annotations are %v", a)
	}
	if a := annotations(topic); a[breakglass.FluxDisabledByAnnotation] != "" {
		t.Errorf("the topic's switch was someone else's, yet the break-glass claims it: %v", a)
	}

	if err := setAckDeadline(p.oncall, s, 120); err != nil {
		t.Fatalf("edit under break-glass: %v", err)
	}
	s.waitCloudAckDeadline(t, 120)
	if got := apply(); got["Subscription"] != ssa.SkippedAction {
		t.Errorf("Flux's apply while open: %v, want the subscription skipped", got)
	}
	if got := s.subscription(t).Spec.AckDeadlineSeconds; got != 120 {
		t.Errorf("after Flux's apply while open, ack deadline %d, want the edit (120)", got)
	}

	// Flux's Kustomization, as far as the report reads it: its inventory
	// lists the subscription, so the report may name its revision.
	fluxKustomization(t, "flux-system", "apps", "main@sha1:0123abcd", s.ns+"_orders-worker_pubsub.infraplane.dev_Subscription")

	if _, err := breakglass.Close(ctx, p.oncall, keyOf(bg)); err != nil {
		t.Fatalf("close: %v", err)
	}
	bg = waitBG(t, keyOf(bg), func(bg *corev1alpha1.BreakGlass) error {
		if a := annotations(sub); a[breakglass.FluxReconcileAnnotation] != "" || a[breakglass.FluxDisabledByAnnotation] != "" {
			return fmt.Errorf("the subscription still has %v", a)
		}
		if bg.Status.Phase != corev1alpha1.BreakGlassClosed {
			return fmt.Errorf("phase %s", bg.Status.Phase)
		}
		return nil
	})
	for _, tg := range bg.Status.Targets {
		t.Logf("%s/%s: %s: %s", tg.Kind, tg.Name, tg.State, tg.Message)
		if tg.State != breakglass.TargetReturned || !strings.Contains(tg.Message, "Flux Kustomization flux-system/apps") || strings.Contains(tg.Message, "git does not manage") {
			t.Errorf("%s/%s: %s %q", tg.Kind, tg.Name, tg.State, tg.Message)
		}
		switch tg.Kind {
		case "Subscription":
			if !strings.Contains(tg.Message, "(last applied: main@sha1:0123abcd)") {
				t.Errorf("the report should name the Kustomization's last applied revision: %q", tg.Message)
			}
			if !strings.Contains(tg.Message, "`flux reconcile kustomization apps -n flux-system`") {
				t.Errorf("the report should say how to let Flux apply git now: %q", tg.Message)
			}
		case "Topic":
			if !strings.Contains(tg.Message, "stays disabled") {
				t.Errorf("the report should say Flux stays off on the topic: %q", tg.Message)
			}
		}
	}
	if len(bg.Status.Held) > 0 {
		t.Errorf("held %v: infraplane cannot compare with Flux's source, so it holds nothing", bg.Status.Held)
	}
	if a := annotations(topic); a[breakglass.FluxReconcileAnnotation] != "disabled" {
		t.Errorf("someone else's switch on the topic was removed: %v", a)
	}

	// Flux's next apply reverts the edit, and the cloud follows.
	if got := apply(); got["Subscription"] != ssa.ConfiguredAction {
		t.Errorf("Flux's apply after the window: %v, want the subscription configured", got)
	}
	s.waitCloudAckDeadline(t, 10)

	entries, err := ledger.Read(env.LedgerPath(), ledger.Filter{BreakGlass: bg.Name})
	if err != nil {
		t.Fatal(err)
	}
	var opened, restored bool
	for _, e := range entries {
		opened = opened || (e.Type == ledger.TypeBreakGlassOpen && strings.Contains(e.Details["fluxReconcileDisabled"], "Subscription/orders-worker (Kustomization flux-system/apps)"))
		restored = restored || slices.Contains(e.Objects, "Subscription/orders-worker") && strings.Contains(e.Summary, "Flux's reconcile enabled again")
	}
	if !opened || !restored {
		t.Errorf("ledger: switching Flux off recorded %v, on again %v: %+v", opened, restored, entries)
	}
}

// fluxKustomization installs a stand-in for Flux's Kustomization CRD (any
// fields) once, and creates the Kustomization ns/name with the revision
// and inventory ids its status would have.
func fluxKustomization(t *testing.T, ns, name, revision string, ids ...string) {
	t.Helper()
	ctx := context.Background()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "kustomizations.kustomize.toolkit.fluxcd.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "kustomize.toolkit.fluxcd.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "kustomizations", Singular: "kustomization", Kind: "Kustomization", ListKind: "KustomizationList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}},
			}},
		},
	}
	if err := env.Client.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var entries []any
	for _, id := range ids {
		entries = append(entries, map[string]any{"id": id, "v": "v1alpha1"})
	}
	k := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"status":   map[string]any{"lastAppliedRevision": revision, "inventory": map[string]any{"entries": entries}},
	}}
	testenv.Eventually(t, testenv.WaitTimeout, func() error { // until the CRD is served
		err := env.Client.Create(ctx, k.DeepCopy())
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}
