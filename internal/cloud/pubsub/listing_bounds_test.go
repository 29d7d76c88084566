package pubsub_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A hostile team's endpoint answers listings without end: ListTopics
// pages forever (each page quickly, so no per-call deadline fires) and
// ListSubscriptions answers with one page larger than any answer
// infraplane reads. Neither may fill the controller's memory or hold the
// workers every team shares: the listing stops at its read budget, the
// page is refused, and the objects go on with Gets, in sync.

// endlessPages answers every ListTopics with 1,000 topics of 4 KiB labels
// each (about 4 MiB) and a token for yet another page.
type endlessPages struct{ pages atomic.Int64 }

func (e *endlessPages) React(any) (bool, any, error) {
	n := e.pages.Add(1)
	resp := &pubsubpb.ListTopicsResponse{NextPageToken: fmt.Sprintf("page-%d", n)}
	pad := strings.Repeat("x", 4<<10)
	for i := range 1000 {
		resp.Topics = append(resp.Topics, &pubsubpb.Topic{
			Name:   fmt.Sprintf("projects/listing-endless-project/topics/junk-%d-%d", n, i),
			Labels: map[string]string{"pad": pad},
		})
	}
	return true, resp, nil
}

// hugePage answers ListSubscriptions with one page of about 40 MiB.
type hugePage struct{ calls atomic.Int64 }

func (h *hugePage) React(any) (bool, any, error) {
	h.calls.Add(1)
	resp := &pubsubpb.ListSubscriptionsResponse{}
	pad := strings.Repeat("y", 40<<10)
	for i := range 1000 {
		resp.Subscriptions = append(resp.Subscriptions, &pubsubpb.Subscription{
			Name:   fmt.Sprintf("projects/listing-endless-project/subscriptions/junk-%d", i),
			Topic:  "projects/listing-endless-project/topics/junk",
			Labels: map[string]string{"pad": pad},
		})
	}
	return true, resp, nil
}

func TestBatchedReadsHostileListingIsBounded(t *testing.T) {
	topics, subs := &endlessPages{}, &hugePage{}
	s := newListingScene(t, "listing-endless",
		pstest.ServerReactorOption{FuncName: "ListTopics", Reactor: topics},
		pstest.ServerReactorOption{FuncName: "ListSubscriptions", Reactor: subs})
	const n = 3
	objs := s.objects(t, "endless", n)
	start := s.reads()
	var end reads
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		end = s.reads()
		if d := end.listErrors - start.listErrors; d < 4 {
			return fmt.Errorf("%v failed listings, want 4 (two per kind)", d)
		}
		if d := end.gets - start.gets; d < 4*n {
			return fmt.Errorf("%v resyncs read with Gets, want %d", d, 4*n)
		}
		return nil
	})
	attempts := end.listErrors - start.listErrors
	t.Logf("%.0f failed listings, %d topic pages served, %d subscription pages served, %.0f Gets", attempts, topics.pages.Load(), subs.calls.Load(), end.gets-start.gets)
	if end.listed != start.listed {
		t.Errorf("%.0f resyncs answered from a listing that never ended", end.listed-start.listed)
	}
	// The listing's budget is 64 MiB: at about 4 MiB a page, each topic
	// listing stops after some 17 pages, not at its deadline.
	if perListing := float64(topics.pages.Load()) / (attempts / 2); perListing > 20 {
		t.Errorf("%.1f topic pages read per listing: the read budget did not stop an endless listing", perListing)
	}
	for _, o := range objs {
		if c := condition(t, o, commonv1.TypeSynced); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("%s: Synced %+v, want True: a hostile listing is not the object's failure", o.GetName(), c)
		}
	}
}
