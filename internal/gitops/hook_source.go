package gitops

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// hookNotFound is the answer to a path no GitSource has: the same for a
// path that never existed and one whose token was rotated.
const hookNotFound = "no such push hook: use the path in the GitSource's status.webhookPath"

// sourceHook serves POST /hooks/git/<id>, one GitSource's own path. What a
// caller who knows no path can make it do is one lookup in an in-memory
// index, answered 404 (429 above the failure limit): no Secret is read and
// the body is not read. A caller who knows a path (its team, the git host)
// spends that path's budget only; each request costs then one Secret read
// from the cache and one signature check.
func (h *hook) sourceHook(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	id := strings.TrimPrefix(path, HookPathPrefix)
	if len(id) != hookIDLen || strings.Trim(id, "0123456789abcdef") != "" {
		h.notFound(w, r)
		return
	}
	ctx := r.Context()
	var list corev1alpha1.GitSourceList
	if err := h.c.List(ctx, &list, client.MatchingFields{hookPathField: path}); err != nil {
		h.log.Error(err, "looking a push-hook path up")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if len(list.Items) == 0 {
		h.notFound(w, r)
		return
	}
	if !h.sources.allow(path) {
		tooMany(w, r)
		return
	}
	// The status only finds the GitSource; its Secret decides. A path of a
	// rotated token stops working at once (before the status shows the new
	// one), and a status copied from another GitSource matches nothing.
	var gs *corev1alpha1.GitSource
	var token []byte
	for i := range list.Items {
		cand := &list.Items[i]
		ref := cand.Spec.WebhookSecretRef
		if ref == nil || ref.Name == "" {
			continue
		}
		t := hookToken(ctx, h.c, client.ObjectKey{Namespace: cand.Namespace, Name: ref.Name}, h.log)
		if len(t) >= MinHookTokenLen && subtle.ConstantTimeCompare([]byte(HookPath(cand.Namespace, cand.Name, t)), []byte(path)) == 1 {
			gs, token = cand, t
			break
		}
	}
	if gs == nil {
		h.notFound(w, r)
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	if !hookCredentialsOf(r.Header).authenticate(token, body) {
		unauthenticated(w)
		return
	}
	h.trigger(w, r, []*corev1alpha1.GitSource{gs}, body)
}

// notFound answers a path no GitSource has, within the failure budget.
func (h *hook) notFound(w http.ResponseWriter, r *http.Request) {
	if !h.failures.Allow() {
		tooMany(w, r)
		return
	}
	closeIfUnread(w, r)
	http.Error(w, hookNotFound, http.StatusNotFound)
}
