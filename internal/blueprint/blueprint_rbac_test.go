package blueprint_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/config/rbac"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The people's roles take in each Blueprint's kind: editors may create
// Queues, viewers may read them.
func TestPeopleRolesCoverBlueprintKinds(t *testing.T) {
	ctx := context.Background()
	for _, doc := range strings.Split(string(rbac.People), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || len(u.Object) == 0 {
			continue
		}
		if err := env.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	ns := queueNamespace(t) // applies the Queue Blueprint
	can := func(group, verb string) (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "someone@example.com", Groups: []string{group},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: "platform.infraplane.dev", Resource: "queues",
			},
		}}
		if err := env.Client.Create(ctx, sar); err != nil {
			return false, err
		}
		return sar.Status.Allowed, nil
	}
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
