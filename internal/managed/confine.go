package managed

import (
	"github.com/infraplane/infraplane/internal/provider"
)

// confine checks every cloud name an object reaches against its
// ProviderConfig before any cloud call: the resource itself (its full name,
// which carries the project of an instance it lives in) must be in the
// ProviderConfig's project; what it only references (a Subscription's
// topic) may also be in one of the ProviderConfig's referenceProjects.
// Names without a project (global bucket names, PostgreSQL names) pass:
// their owner is checked by the kind when the cloud says it.
func confine(prov *provider.Config, self string, refs []Reference, resolved map[string]string) error {
	if err := prov.Confine("the resource", self, true); err != nil {
		return err
	}
	for _, r := range refs {
		field := r.Field
		if r.Ref.External != "" {
			field += ".external"
		}
		if err := prov.Confine(field, resolved[r.Field], false); err != nil {
			return err
		}
	}
	return nil
}
