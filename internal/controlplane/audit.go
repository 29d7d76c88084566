package controlplane

import (
	"strings"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// WriteEvent is one completed write request to an object of an
// infraplane API group, as the API server authenticated it.
type WriteEvent struct {
	// User and Groups are who made the request (from the client certificate
	// or token), never from the request body.
	User   string
	Groups []string
	// Verb is create, update, patch or delete.
	Verb string
	// Group, Resource, Namespace, Name and Subresource name the object.
	Group, Resource, Namespace, Name, Subresource string
	// UserAgent and FieldManager say which tool wrote.
	UserAgent, FieldManager string
	// Body is the request body (the patch or the object), nil for delete.
	Body []byte
	// Code is the HTTP status code of the response.
	Code int32
	// DryRun is true for dry-run requests, which change nothing.
	DryRun bool
}

// WriteHook receives write events. It runs on the API server's audit path:
// it must return quickly.
type WriteHook func(WriteEvent)

// writePolicy audits writes to infraplane's groups at Request level (the
// body, to tell which fields changed) and nothing else.
type writePolicy struct{}

func (writePolicy) EvaluatePolicyRule(a authorizer.Attributes) audit.RequestAuditConfig {
	if !a.IsResourceRequest() || !isOurGroup(a.GetAPIGroup()) {
		return audit.RequestAuditConfig{Level: auditinternal.LevelNone}
	}
	switch a.GetVerb() {
	case "create", "update", "patch", "delete":
		return audit.RequestAuditConfig{
			Level:             auditinternal.LevelRequest,
			OmitStages:        []auditinternal.Stage{auditinternal.StageRequestReceived, auditinternal.StageResponseStarted, auditinternal.StagePanic},
			OmitManagedFields: true,
		}
	}
	return audit.RequestAuditConfig{Level: auditinternal.LevelNone}
}

// isOurGroup: infraplane's groups, and every other group that is not
// Kubernetes' own: the kinds Blueprints define live in groups the platform
// team chooses (platform.example.com), and their direct edits count too.
func isOurGroup(g string) bool {
	if g == "infraplane.dev" || strings.HasSuffix(g, ".infraplane.dev") {
		return true
	}
	builtin := g == "" || g == "k8s.io" || strings.HasSuffix(g, ".k8s.io") || !strings.Contains(g, ".")
	return !builtin
}

// hookBackend turns audit events into WriteEvents.
type hookBackend struct{ hook WriteHook }

func (b hookBackend) ProcessEvents(events ...*auditinternal.Event) bool {
	for _, e := range events {
		if e.Stage != auditinternal.StageResponseComplete || e.ObjectRef == nil {
			continue
		}
		w := WriteEvent{
			User: e.User.Username, Groups: e.User.Groups, Verb: e.Verb,
			Group: e.ObjectRef.APIGroup, Resource: e.ObjectRef.Resource, Namespace: e.ObjectRef.Namespace,
			Name: e.ObjectRef.Name, Subresource: e.ObjectRef.Subresource, UserAgent: e.UserAgent,
			FieldManager: queryParam(e.RequestURI, "fieldManager"),
			DryRun:       queryParam(e.RequestURI, "dryRun") != "",
		}
		if e.ResponseStatus != nil {
			w.Code = e.ResponseStatus.Code
		}
		if e.RequestObject != nil {
			w.Body = append([]byte(nil), e.RequestObject.Raw...)
		}
		if w.Name == "" && w.Verb == "create" {
			w.Name = nameFromBody(w.Body)
		}
		b.hook(w)
	}
	return true
}

func (hookBackend) Run(<-chan struct{}) error { return nil }
func (hookBackend) Shutdown()                 {}
func (hookBackend) String() string            { return "infraplane-writes" }

func queryParam(uri, name string) string {
	_, q, ok := strings.Cut(uri, "?")
	if !ok {
		return ""
	}
	for _, kv := range strings.Split(q, "&") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// nameFromBody finds metadata.name in a create request's body without a
// full decode.
func nameFromBody(body []byte) string {
	s := string(body)
	i := strings.Index(s, `"name":"`)
	if i < 0 {
		return ""
	}
	rest := s[i+len(`"name":"`):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}
