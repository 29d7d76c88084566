package blueprint

import (
	"context"
	"fmt"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReasonNotPermitted: the controller has no rights on the kind's group.
const ReasonNotPermitted = "NotPermitted"

// kindVerbs are what the controller does with a Blueprint kind's
// instances, and what the kind's roles for people grant (the API server
// lets it create those roles only if it holds all of it).
var kindVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// permissions remembers the kinds the controller was found to have every
// right on. Rights are looked up again for a kind not (yet) granted.
type permissions struct {
	mu      sync.Mutex
	granted map[schema.GroupResource]bool
}

// +kubebuilder:rbac:groups=authorization.k8s.io,resources=selfsubjectaccessreviews,verbs=create

// missing asks the API server which rights on the kind's instances the
// controller lacks; "" when it has them all. Without them, watching the
// kind would stall the controller's cache, so the Blueprint says what to
// grant instead.
func (p *permissions) missing(ctx context.Context, c client.Client, gr schema.GroupResource) (string, error) {
	p.mu.Lock()
	ok := p.granted[gr]
	p.mu.Unlock()
	if ok {
		return "", nil
	}
	var lacks []string
	check := func(verb, sub string) error {
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: gr.Group, Resource: gr.Resource, Subresource: sub, Verb: verb},
		}}
		if err := c.Create(ctx, r); err != nil {
			return fmt.Errorf("asking the API server for the controller's rights on %s: %w", gr, err)
		}
		if !r.Status.Allowed {
			if sub != "" {
				verb += " " + gr.Resource + "/" + sub
			}
			lacks = append(lacks, verb)
		}
		return nil
	}
	for _, v := range kindVerbs {
		if err := check(v, ""); err != nil {
			return "", err
		}
	}
	if err := check("patch", "status"); err != nil {
		return "", err
	}
	if len(lacks) == 0 {
		p.mu.Lock()
		if p.granted == nil {
			p.granted = map[schema.GroupResource]bool{}
		}
		p.granted[gr] = true
		p.mu.Unlock()
		return "", nil
	}
	return fmt.Sprintf("the controller may not manage %s (it lacks %s): grant it every verb on the resources of API group %q "+
		"with a ClusterRole labelled infraplane.dev/aggregate-to-controller=true (docs/operations.md), or use a group it is granted already; nothing is installed for this Blueprint until then",
		gr, strings.Join(lacks, ", "), gr.Group), nil
}
