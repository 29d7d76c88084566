package blueprint_test

import (
	"context"
	"fmt"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/infraplane/infraplane/internal/tenant"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The people's roles take in each Blueprint's kind: editors may create
// Queues, viewers may read them, in their own team's namespace only; the
// team's syncer may apply them there.
func TestPeopleRolesCoverBlueprintKinds(t *testing.T) {
	ctx := context.Background()
	ns := queueNamespace(t) // applies the Queue Blueprint
	other := queueNamespace(t)
	// A team's people are bound in its namespace only (the platform admins
	// cluster-wide, by people.yaml, which testenv installs).
	env.Onboard(t, tenant.Team{Namespace: ns, ViewerGroups: []string{"infraplane:viewers"},
		EditorGroups: []string{"infraplane:editors"}, OncallGroups: []string{"infraplane:oncall"}})
	can := func(group, verb string) (bool, error) { return canIn(ctx, ns, "someone@example.com", group, verb) }
	for _, tc := range []struct {
		user, group, verb string
		want              bool
	}{
		{"someone@example.com", "infraplane:editors", "create", false},
		{"someone@example.com", "infraplane:viewers", "list", false},
		{"system:serviceaccount:" + ns + ":infraplane-gitops", "system:serviceaccounts", "create", false},
	} {
		ok, err := canIn(ctx, other, tc.user, tc.group, tc.verb)
		if err != nil {
			t.Fatal(err)
		}
		if ok != tc.want {
			t.Errorf("%s (%s) may %s queues in another team's namespace: %v", tc.user, tc.group, tc.verb, ok)
		}
	}
	// The syncer of the team's repository may apply instances there.
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		ok, err := canIn(ctx, ns, "system:serviceaccount:"+ns+":infraplane-gitops", "system:serviceaccounts", "patch")
		if err != nil || !ok {
			return fmt.Errorf("the team's syncer may not patch queues: %v %v", ok, err)
		}
		return nil
	})
	for _, tc := range []struct {
		group, verb string
		want        bool
	}{
		{"infraplane:editors", "create", true},
		{"infraplane:oncall", "delete", true},
		{"infraplane:platform", "patch", true},
		{"infraplane:viewers", "list", true},
		{"infraplane:viewers", "create", false},
		{"someone-else", "get", false},
	} {
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			ok, err := can(tc.group, tc.verb)
			if err != nil {
				return err
			}
			if ok != tc.want {
				return fmt.Errorf("%s may %s queues: %v, want %v", tc.group, tc.verb, ok, tc.want)
			}
			return nil
		})
	}
}

func canIn(ctx context.Context, ns, user, group, verb string) (bool, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: []string{group},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: verb, Group: "platform.infraplane.dev", Resource: "queues",
		},
	}}
	if err := env.Client.Create(ctx, sar); err != nil {
		return false, err
	}
	return sar.Status.Allowed, nil
}
