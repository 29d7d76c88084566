package controlplane

import (
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"time"

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
	// Verb is create, update, patch, delete or deletecollection.
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
	// Unchanged is true for an update or patch that left the object as it
	// was (e.g. an unchanged server-side re-apply): the API server answered
	// with the resourceVersion the object already had. False when unknown.
	Unchanged bool
	// LabelSelector is a deletecollection's selector ("" for all).
	LabelSelector string
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
	case "create", "update", "patch":
		// The response too: its resourceVersion tells a write that
		// changed nothing.
		return audit.RequestAuditConfig{
			Level:             auditinternal.LevelRequestResponse,
			OmitStages:        []auditinternal.Stage{auditinternal.StageRequestReceived, auditinternal.StageResponseStarted, auditinternal.StagePanic},
			OmitManagedFields: true,
		}
	case "delete", "deletecollection":
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
type hookBackend struct {
	hook WriteHook
	seen *versions
}

// versions remembers the resourceVersion each object had after the last
// successful write seen, and when that write completed, so that an update
// or patch answered with the same version is known to have changed
// nothing. Every write to these groups passes here (the controllers' too).
// Events may arrive out of order: when two writes to one object overlap,
// either may have made the version both answers carry, so a write counts
// as unchanged only if it started after every write that answered with
// that version had completed. Ambiguous writes are recorded; a change is
// never dropped (after a restart, a no-op may count as a change).
type versions struct {
	mu sync.Mutex
	rv map[string]seenVersion
}

type seenVersion struct {
	rv   string
	done time.Time // the latest completion of a write that answered with rv
}

// maxVersions bounds the memory (about 100 bytes an object); past it the
// map starts over, and the first write to each object counts as a change.
const maxVersions = 200_000

// observe records that a write received at started and completed at done
// answered with rv, and reports whether it changed nothing for certain.
func (v *versions) observe(key, rv string, started, done time.Time) (unchanged bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.rv == nil || len(v.rv) >= maxVersions {
		v.rv = map[string]seenVersion{}
	}
	old, ok := v.rv[key]
	if !ok || old.rv != rv {
		v.rv[key] = seenVersion{rv: rv, done: done}
		return false
	}
	unchanged = started.After(old.done)
	if done.After(old.done) {
		old.done = done
		v.rv[key] = old
	}
	return unchanged
}

func (v *versions) forget(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.rv, key)
}

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
			DryRun:       isDryRun(e),
		}
		if w.Verb == "deletecollection" {
			w.LabelSelector = queryParam(e.RequestURI, "labelSelector")
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
		if b.seen != nil && !w.DryRun {
			key := w.Group + "/" + w.Resource + "/" + w.Namespace + "/" + w.Name
			switch {
			case w.Verb == "delete" || w.Verb == "deletecollection":
				if w.Name != "" {
					b.seen.forget(key)
				}
			case w.Code < 300 && e.ResponseObject != nil:
				if rv := resourceVersionOf(e.ResponseObject.Raw); rv != "" {
					unchanged := b.seen.observe(key, rv, e.RequestReceivedTimestamp.Time, e.StageTimestamp.Time)
					w.Unchanged = w.Verb != "create" && unchanged
				}
			}
		}
		b.hook(w)
	}
	return true
}

func (hookBackend) Run(<-chan struct{}) error { return nil }
func (hookBackend) Shutdown()                 {}
func (hookBackend) String() string            { return "infraplane-writes" }

// queryParam is the first value of a query parameter of a request URI,
// decoded the way the API server decodes it (net/url: a name or value may
// be percent-encoded).
func queryParam(uri, name string) string {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return ""
	}
	return u.Query().Get(name)
}

// isDryRun reports whether a request changed nothing because it was a dry
// run, however the client said so: dryRun in the query (any verb; the
// API server decodes the query with net/url, as here, so an encoded name
// counts too), or, for deletes, in DeleteOptions in the body — which the
// audit event holds decoded and re-encoded as JSON, whatever the client
// sent. A value the API server does not accept fails the request, which is
// then not recorded anyway.
func isDryRun(e *auditinternal.Event) bool {
	u, err := url.ParseRequestURI(e.RequestURI)
	if err != nil {
		// RequestURI is the API server's re-encoding of a URL it parsed,
		// so this does not happen; if it did, a record too many beats a
		// write that goes unrecorded.
		return false
	}
	for _, v := range u.Query()["dryRun"] {
		if v != "" {
			return true
		}
	}
	if (e.Verb == "delete" || e.Verb == "deletecollection") && e.RequestObject != nil {
		var opts struct {
			DryRun []string `json:"dryRun"`
		}
		if json.Unmarshal(e.RequestObject.Raw, &opts) == nil && len(opts.DryRun) > 0 {
			return true
		}
	}
	return false
}

// resourceVersionOf is metadata.resourceVersion of a JSON object ("" if
// it is not one).
func resourceVersionOf(raw []byte) string {
	var o struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return ""
	}
	return o.Metadata.ResourceVersion
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
