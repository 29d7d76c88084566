package bigtable

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigtable/admin/apiv2/adminpb"
	"google.golang.org/protobuf/types/known/durationpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
)

// gcRule turns a spec GC policy into the API's rule. nil means no
// garbage collection: an empty rule.
func gcRule(p *bigtablev1.GCPolicy) *adminpb.GcRule {
	if p == nil {
		return &adminpb.GcRule{}
	}
	var rules []*adminpb.GcRule
	if p.MaxAge != nil {
		// Whole milliseconds: what every Bigtable keeps exactly.
		rules = append(rules, &adminpb.GcRule{Rule: &adminpb.GcRule_MaxAge{MaxAge: durationpb.New(p.MaxAge.Truncate(time.Millisecond))}})
	}
	if p.MaxVersions != nil {
		rules = append(rules, &adminpb.GcRule{Rule: &adminpb.GcRule_MaxNumVersions{MaxNumVersions: *p.MaxVersions}})
	}
	switch {
	case len(rules) == 1:
		return rules[0]
	case p.Mode == bigtablev1.GCIntersection:
		return &adminpb.GcRule{Rule: &adminpb.GcRule_Intersection_{Intersection: &adminpb.GcRule_Intersection{Rules: rules}}}
	default:
		return &adminpb.GcRule{Rule: &adminpb.GcRule_Union_{Union: &adminpb.GcRule_Union{Rules: rules}}}
	}
}

// renderGCRule is a canonical, readable form of a rule, used both to diff
// and to report: "none", "maxVersions=3", "maxAge=24h0m0s",
// "union(maxAge=24h0m0s, maxVersions=3)". Parts of a union or intersection
// are sorted (their order means nothing), and a one-part combination is
// its part, so equal rules render equally whoever wrote them.
func renderGCRule(r *adminpb.GcRule) string {
	switch x := r.GetRule().(type) {
	case *adminpb.GcRule_MaxNumVersions:
		return "maxVersions=" + strconv.Itoa(int(x.MaxNumVersions))
	case *adminpb.GcRule_MaxAge:
		return "maxAge=" + x.MaxAge.AsDuration().String()
	case *adminpb.GcRule_Union_:
		return renderCombined("union", x.Union.GetRules())
	case *adminpb.GcRule_Intersection_:
		return renderCombined("intersection", x.Intersection.GetRules())
	}
	return "none"
}

func renderCombined(op string, rules []*adminpb.GcRule) string {
	parts := make([]string, 0, len(rules))
	for _, r := range rules {
		parts = append(parts, renderGCRule(r))
	}
	switch len(parts) {
	case 0:
		return "none"
	case 1:
		return parts[0]
	}
	slices.Sort(parts)
	return op + "(" + strings.Join(parts, ", ") + ")"
}

// specGCPolicy is the spec form of a cloud rule, for import. ok is false
// for rules the spec cannot express (nested or repeated combinations).
func specGCPolicy(r *adminpb.GcRule) (p *bigtablev1.GCPolicy, ok bool) {
	var rules []*adminpb.GcRule
	mode := bigtablev1.GCMode("")
	switch x := r.GetRule().(type) {
	case nil:
		return nil, true
	case *adminpb.GcRule_Union_:
		rules, mode = x.Union.GetRules(), bigtablev1.GCUnion
	case *adminpb.GcRule_Intersection_:
		rules, mode = x.Intersection.GetRules(), bigtablev1.GCIntersection
	default:
		rules = []*adminpb.GcRule{r}
	}
	p = &bigtablev1.GCPolicy{}
	for _, leaf := range rules {
		switch x := leaf.GetRule().(type) {
		case *adminpb.GcRule_MaxNumVersions:
			if p.MaxVersions != nil {
				return nil, false
			}
			n := x.MaxNumVersions
			p.MaxVersions = &n
		case *adminpb.GcRule_MaxAge:
			if p.MaxAge != nil {
				return nil, false
			}
			p.MaxAge = &metav1.Duration{Duration: x.MaxAge.AsDuration()}
		default:
			return nil, false
		}
	}
	switch {
	case p.MaxVersions == nil && p.MaxAge == nil:
		return nil, true
	case p.MaxVersions != nil && p.MaxAge != nil && mode == bigtablev1.GCIntersection:
		p.Mode = mode // Union is the default: left out
	}
	return p, true
}
