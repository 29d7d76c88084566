package pubsub_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Batched reads (issue #17): a steady-state resync is answered from one
// listing per kind and ProviderConfig identity instead of a Get per
// object. Each test runs its own pstest server, so the per-ProviderConfig
// counters (managed.Observes, managed.Listings) see only its objects.

// listingScene is a pstest server of the test's own, a ProviderConfig
// pointing at it and a namespace using that.
type listingScene struct {
	srv     *pstest.Server
	topics  *pubsubapi.TopicAdminClient
	subs    *pubsubapi.SubscriptionAdminClient
	pc, ns  string
	project string
}

func newListingScene(t *testing.T, pc string, opts ...pstest.ServerReactorOption) *listingScene {
	t.Helper()
	ctx := context.Background()
	s := &listingScene{srv: pstest.NewServer(opts...), pc: pc, project: pc + "-project"}
	t.Cleanup(func() { _ = s.srv.Close() })
	conn, err := grpc.NewClient(s.srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if s.topics, err = pubsubapi.NewTopicAdminClient(ctx, option.WithGRPCConn(conn)); err != nil {
		t.Fatal(err)
	}
	if s.subs, err = pubsubapi.NewSubscriptionAdminClient(ctx, option.WithGRPCConn(conn)); err != nil {
		t.Fatal(err)
	}
	s.applyProviderConfig(t, s.srv.Addr)
	s.ns = env.Namespace(t, pc)
	return s
}

// applyProviderConfig points the scene's ProviderConfig at endpoint.
func (s *listingScene) applyProviderConfig(t *testing.T, endpoint string) {
	t.Helper()
	pc := &corev1alpha1.ProviderConfig{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "ProviderConfig"},
		ObjectMeta: metav1.ObjectMeta{Name: s.pc},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   s.project,
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: endpoint},
		},
	}
	//nolint:staticcheck // typed server-side apply
	if err := env.Client.Patch(context.Background(), pc, client.Apply, client.FieldOwner("batched-reads-test"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
}

// objects creates n topics and a subscription on each, resynced every
// second; they abandon their resources when deleted (the server is gone by
// then).
func (s *listingScene) objects(t *testing.T, prefix string, n int) []testenv.Managed {
	t.Helper()
	var objs []testenv.Managed
	for i := range n {
		tp := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Namespace: s.ns}}
		tp.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		tp.Spec.DeletionPolicy = commonv1.DeletionAbandon
		sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Name: tp.Name + "-sub", Namespace: s.ns}}
		sub.Spec.TopicRef = commonv1.ResourceRef{Name: tp.Name}
		sub.Spec.AckDeadlineSeconds = 20
		sub.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		sub.Spec.DeletionPolicy = commonv1.DeletionAbandon
		env.Create(t, tp)
		env.Create(t, sub)
		objs = append(objs, tp, sub)
	}
	for _, o := range objs {
		env.WaitReady(t, o)
	}
	return objs
}

// reads are the scene's resync reads and listings so far.
type reads struct{ gets, listed, topicListings, subListings, listErrors float64 }

func (s *listingScene) reads() reads {
	var r reads
	for _, k := range []string{"Topic", "Subscription"} {
		r.gets += managed.Observes(k, s.pc, "get")
		r.listed += managed.Observes(k, s.pc, "listing")
		r.listErrors += managed.Listings(k, s.pc, "error")
	}
	r.topicListings = managed.Listings("Topic", s.pc, "ok")
	r.subListings = managed.Listings("Subscription", s.pc, "ok")
	return r
}

// waitListed waits until at least n more resyncs were answered from a
// listing than in since (a count, not a time).
func (s *listingScene) waitListed(t *testing.T, since reads, n float64) reads {
	t.Helper()
	var now reads
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		now = s.reads()
		if d := now.listed - since.listed; d < n {
			return fmt.Errorf("%v resyncs answered from a listing, want %v", d, n)
		}
		return nil
	})
	return now
}

// In steady state the objects' resyncs read (almost) nothing per object:
// about one listing per kind per half interval answers them all. A drift
// made in the cloud is still found and repaired, and a resource deleted
// behind the controller's back (missing from a listing, confirmed by a
// Get) is created again.
func TestBatchedReadsSteadyState(t *testing.T) {
	const n = 10
	s := newListingScene(t, "listing-steady")
	s.objects(t, "steady", n)

	// Past the first resyncs (a listing taken after the creates), count
	// over about three intervals' worth of resyncs.
	start := s.waitListed(t, s.reads(), 2*2*n)
	end := s.waitListed(t, start, 3*2*n)
	gets, listed := end.gets-start.gets, end.listed-start.listed
	passesPerObject := (gets + listed) / (2 * n)
	t.Logf("%d objects: %.0f resyncs answered from listings, %.0f Gets, %.0f + %.0f listings (Topic + Subscription), %.1f passes per object",
		2*n, listed, gets, end.topicListings-start.topicListings, end.subListings-start.subListings, passesPerObject)
	if gets > 0.05*(gets+listed)+2 {
		t.Errorf("%.0f Gets against %.0f resyncs answered from listings: want about none in steady state", gets, listed)
	}
	for kind, l := range map[string]float64{"Topic": end.topicListings - start.topicListings, "Subscription": end.subListings - start.subListings} {
		// Two listings per interval (each answers for half an interval).
		if l < 1 || l > 2*passesPerObject+2 {
			t.Errorf("%s: %.0f listings for %.1f passes per object, want about two per interval, at least one", kind, l, passesPerObject)
		}
	}

	// Drift made directly in the cloud: found (the listing shows it, a Get
	// confirms it) and repaired.
	ctx := context.Background()
	sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Name: "steady-0-sub", Namespace: s.ns}}
	subName := "projects/" + s.project + "/subscriptions/steady-0-sub"
	if _, err := s.subs.UpdateSubscription(ctx, &pubsubpb.UpdateSubscriptionRequest{
		Subscription: &pubsubpb.Subscription{Name: subName, AckDeadlineSeconds: 99},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"ack_deadline_seconds"}},
	}); err != nil {
		t.Fatal(err)
	}
	env.WaitFor(t, sub, commonv1.TypeDrifted, metav1.ConditionFalse, commonv1.ReasonDriftRepaired)
	if got, err := s.subs.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: subName}); err != nil || got.AckDeadlineSeconds != 20 {
		t.Errorf("after the repair: %v, %v; want ack deadline 20", got, err)
	}

	// Deleted behind the controller's back: created again.
	topicName := "projects/" + s.project + "/topics/steady-1"
	before := s.reads()
	if err := s.topics.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: topicName}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		_, err := s.topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: topicName})
		return err
	})
	if g := s.reads().gets - before.gets; g < 1 {
		t.Errorf("re-created without a Get confirming the listing's miss (%v Gets)", g)
	}
}

// A spec change reconciles at once with a Get, not at the next resync nor
// from a listing: here the object resyncs hourly, and the change is in
// the cloud long before.
func TestBatchedReadsSpecChangeUsesGet(t *testing.T) {
	s := newListingScene(t, "listing-spec")
	objs := s.objects(t, "spec", 2)
	s.waitListed(t, s.reads(), 2*4) // steady: resyncs answered from listings
	sub := objs[1].(*pubsubv1.Subscription)
	testenv.Update(t, env, sub, func(sb *pubsubv1.Subscription) {
		sb.Spec.ResyncInterval = &metav1.Duration{Duration: time.Hour}
	})
	env.WaitSynced(t, sub)
	before := managed.Observes("Subscription", s.pc, "get")
	testenv.Update(t, env, sub, func(sb *pubsubv1.Subscription) { sb.Spec.AckDeadlineSeconds = 42 })
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		got, err := s.subs.GetSubscription(context.Background(), &pubsubpb.GetSubscriptionRequest{Subscription: "projects/" + s.project + "/subscriptions/" + sub.Name})
		if err != nil {
			return err
		}
		if got.AckDeadlineSeconds != 42 {
			return fmt.Errorf("ack deadline %d in the cloud, want 42", got.AckDeadlineSeconds)
		}
		return nil
	})
	if g := managed.Observes("Subscription", s.pc, "get") - before; g < 1 {
		t.Errorf("the spec change was reconciled without a Get (%v)", g)
	}
}

// Two teams' ProviderConfigs on the same project never share a listing:
// each identity lists for itself, and when team B's ProviderConfig can no
// longer read the project (its endpoint dead), B's objects say so, though
// team A's listing, fresh and of the same project, shows B's resources in
// sync.
func TestBatchedReadsListingPerIdentity(t *testing.T) {
	a := newListingScene(t, "listing-team-a")
	a.objects(t, "a", 2)
	// Team B: another ProviderConfig, the same server and project.
	b := &listingScene{srv: a.srv, topics: a.topics, subs: a.subs, pc: "listing-team-b", project: a.project}
	b.applyProviderConfig(t, a.srv.Addr)
	b.ns = env.Namespace(t, b.pc)
	bObjs := b.objects(t, "b", 2)
	a.waitListed(t, a.reads(), 8)
	b.waitListed(t, b.reads(), 8)
	for _, sc := range []*listingScene{a, b} {
		if r := sc.reads(); r.topicListings < 1 || r.subListings < 1 {
			t.Errorf("%s: listings %+v, want its own of each kind", sc.pc, r)
		}
	}

	// B loses access: its endpoint is a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	b.applyProviderConfig(t, dead)
	t.Cleanup(func() { b.applyProviderConfig(t, a.srv.Addr) })
	aBefore := a.reads()
	for _, o := range bObjs {
		env.WaitFor(t, o, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonCloudError)
	}
	// Meanwhile A's listings went on answering A's resyncs (and listed
	// B's resources too: same project).
	a.waitListed(t, aBefore, 4)
	if r := b.reads(); r.listErrors < 1 {
		t.Errorf("team B: %+v, want its failed listing counted", r)
	}
}

// A listing the cloud refuses (a role that may get but not list) falls
// back to a Get per object: resyncs go on, the objects stay in sync, and
// the listing is not tried again on every pass.
func TestBatchedReadsFailingListFallsBackToGets(t *testing.T) {
	s := newListingScene(t, "listing-refused",
		pstest.WithErrorInjection("ListTopics", codes.PermissionDenied, "pubsub.topics.list denied"),
		pstest.WithErrorInjection("ListSubscriptions", codes.PermissionDenied, "pubsub.subscriptions.list denied"))
	const n = 6
	objs := s.objects(t, "refused", n)
	start := s.reads()
	var end reads
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		end = s.reads()
		if d := end.gets - start.gets; d < 4*2*n {
			return fmt.Errorf("%v resyncs read with Gets, want %d", d, 4*2*n)
		}
		return nil
	})
	gets, attempts := end.gets-start.gets, end.listErrors-start.listErrors
	t.Logf("%.0f Gets, %.0f failed listings, %.0f answered from a listing", gets, attempts, end.listed-start.listed)
	if end.listed != start.listed {
		t.Errorf("%.0f resyncs answered from a listing that failed", end.listed-start.listed)
	}
	// At most one attempt per kind per half interval, where each object
	// of a kind passes once per interval: a third of the Gets here.
	if attempts < 1 || attempts > 2*gets/n+2 {
		t.Errorf("%.0f failed listings for %.0f Gets of %d objects per kind: want at most two per kind per interval, not one per Get", attempts, gets, n)
	}
	for _, o := range objs {
		if c := condition(t, o, commonv1.TypeSynced); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("%s: Synced %+v, want True: a refused listing is not the object's failure", o.GetName(), c)
		}
	}
}
