package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"

	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/ledger"
)

// SyncLedger records GitOps syncs in the audit ledger.
type SyncLedger struct{ L *ledger.Ledger }

// Synced writes a sync entry: revision, commit author, objects changed.
func (s SyncLedger) Synced(ctx context.Context, e gitops.SyncEvent) {
	var objs []string
	for _, o := range e.Created {
		objs = append(objs, "created "+o)
	}
	for _, o := range e.Updated {
		objs = append(objs, "configured "+o)
	}
	for _, o := range e.Pruned {
		objs = append(objs, "pruned "+o)
	}
	for _, o := range e.Released {
		objs = append(objs, "released "+o)
	}
	summary := fmt.Sprintf("%s %s: %d created, %d configured, %d pruned", strings.ToLower(e.Result), e.Revision.Short(), len(e.Created), len(e.Updated), len(e.Pruned))
	switch e.Result {
	case "Applied":
	case "Released":
		summary = fmt.Sprintf("GitSource deleted: %d objects released (they stay, no longer managed by git)", len(e.Released))
	default:
		summary = fmt.Sprintf("%s %s", strings.ToLower(e.Result), e.Revision.Short())
	}
	entry := ledger.Entry{
		Type:     ledger.TypeSync,
		Actor:    "syncer",
		Object:   "GitSource " + e.Source,
		Summary:  summary,
		Revision: e.Revision.String(),
		Author:   e.Revision.Author,
		Objects:  objs,
		Error:    firstLine(e.Error),
	}
	if e.Revision.Hash == "" {
		entry.Revision = ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.L.Append(ctx, entry); err != nil {
		slog.Error("writing the audit ledger", "err", err, "entry", entry.Summary)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(s) > len(line) {
		return line + " …"
	}
	return line
}

// ControllerUser is the identity infraplane's own controllers (and the
// syncer) use against the embedded API server; writes by any other user
// are direct edits.
const ControllerUser = "system:infraplane:controllers"

// BreakGlassLookup tells the direct-edit hook, which exists before the
// controllers do, under which break-glass an edit was made.
type BreakGlassLookup struct {
	mu sync.RWMutex
	p  *breakglass.Policy
}

func (b *BreakGlassLookup) set(p *breakglass.Policy) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.p = p
	b.mu.Unlock()
}

func (b *BreakGlassLookup) under(kind, ns, name, user string) string {
	if b == nil {
		return ""
	}
	b.mu.RLock()
	p := b.p
	b.mu.RUnlock()
	if p == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return p.EditedUnder(ctx, kind, ns, name, user)
}

// DirectEdits returns a control-plane write hook that records, in the
// ledger, every write to an infraplane object made by someone other than
// infraplane's controllers: who, what, which fields, and the break-glass it
// was made under (bgs may be nil).
func DirectEdits(l *ledger.Ledger, bgs *BreakGlassLookup) controlplane.WriteHook {
	kinds := map[string]string{} // plural resource -> Kind
	if list, err := crds.Load(); err == nil {
		for _, c := range list {
			kinds[c.Spec.Names.Plural] = c.Spec.Names.Kind
		}
	}
	// Kinds not built in (those Blueprints define) are learnt from the
	// bodies that name them (create, apply); until then the plural stands.
	var learnt sync.Map // plural resource -> Kind
	return func(w controlplane.WriteEvent) {
		// An unchanged re-apply edits nothing: not recorded.
		if w.User == ControllerUser || w.Code >= 300 || w.DryRun || w.Unchanged {
			return
		}
		kind := kinds[w.Resource]
		if kind == "" {
			var head struct {
				Kind string `json:"kind"`
			}
			if json.Unmarshal(w.Body, &head) == nil && head.Kind != "" {
				learnt.Store(w.Resource, head.Kind)
			}
			if k, ok := learnt.Load(w.Resource); ok {
				kind = k.(string)
			} else {
				kind = w.Resource
			}
		}
		verb := map[string]string{"create": "created", "update": "updated", "patch": "patched", "delete": "deleted", "deletecollection": "deleted"}[w.Verb]
		if w.Verb == "deletecollection" {
			// One request, any number of objects: the entry names the
			// selector (the objects' own deletions follow from it).
			w.Name = "*"
			if w.LabelSelector != "" {
				verb = "deleted every object matching " + w.LabelSelector
			} else {
				verb = "deleted every object"
			}
		}
		fields := changedFields(w.Body)
		obj := ledger.ObjectRef(kind, w.Namespace, w.Name)
		// Actor and object have their own columns: the summary says what.
		summary := verb
		if w.Subresource != "" {
			summary += " " + w.Subresource
		}
		if len(fields) > 0 && w.Verb != "create" {
			summary += " " + strings.Join(fields, ", ")
		}
		details := map[string]string{"verb": w.Verb, "userAgent": w.UserAgent}
		if w.FieldManager != "" {
			details["fieldManager"] = w.FieldManager
		}
		entry := ledger.Entry{Type: ledger.TypeDirectEdit, Actor: w.User, Object: obj, Summary: summary, Fields: fields, Details: details}
		// Off the API server's request path: the ledger fsyncs.
		go func() {
			if w.Namespace != "" && w.Subresource == "" {
				if id := bgs.under(kind, w.Namespace, w.Name, w.User); id != "" {
					entry.BreakGlass = w.Namespace + "/" + id
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := l.Append(ctx, entry); err != nil {
				slog.Error("writing the audit ledger", "err", err, "entry", entry.Summary)
			}
		}()
	}
}

// changedFields lists the leaf paths a request body sets under spec,
// metadata.labels and metadata.annotations (a merge or apply patch names
// exactly what changes; a JSON patch names its paths). Values are never
// recorded.
func changedFields(body []byte) []string {
	if len(body) == 0 {
		return nil
	}
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil
	}
	var ops []struct {
		Path string `json:"path"`
	}
	if json.Unmarshal(js, &ops) == nil && len(ops) > 0 {
		var out []string
		for _, op := range ops {
			out = append(out, strings.ReplaceAll(strings.TrimPrefix(op.Path, "/"), "/", "."))
		}
		return out
	}
	var obj map[string]any
	if json.Unmarshal(js, &obj) != nil {
		return nil
	}
	var out []string
	if spec, ok := obj["spec"].(map[string]any); ok {
		leafPaths("spec", spec, &out)
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		for _, k := range []string{"labels", "annotations"} {
			if m, ok := md[k].(map[string]any); ok {
				leafPaths("metadata."+k, m, &out)
			}
		}
	}
	sort.Strings(out)
	return out
}

func leafPaths(prefix string, m map[string]any, out *[]string) {
	for k, v := range m {
		p := prefix + "." + k
		if child, ok := v.(map[string]any); ok && len(child) > 0 {
			leafPaths(p, child, out)
			continue
		}
		*out = append(*out, p)
	}
}
