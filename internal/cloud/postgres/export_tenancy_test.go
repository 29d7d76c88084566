package postgres

// MembershipRefusal is the membership policy's answer for joining role g
// (an existing role with the given unsafe attributes, managed by no
// object), "" when allowed: for the roles the API server already refuses
// in memberOf, which no object can bring to the controller.
func MembershipRefusal(ns, admin string, allowed []string, g string, attrs []string) string {
	p := &memberPolicy{Namespace: ns, ProviderConfig: "pc", Admin: admin, Allowed: allowed}
	if err := p.check([]candidate{{name: g, exists: true, attrs: attrs}}, nil); err != nil {
		return err.Error()
	}
	return ""
}

// ScramVerifierWith is scramVerifierWith.
var ScramVerifierWith = scramVerifierWith
