package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// The break-glass pages: /breakglass lists the windows of the namespaces
// the person may read, open ones first; /breakglass/{namespace}/{name}
// shows one, with the git / object / cloud comparison of its targets
// once it ended. What they show is what `infraplane breakglass list` and
// `show` print. Every read is the person's.

// bgRow is one window on /breakglass.
type bgRow struct {
	Namespace, Name, Phase, OpenedBy, Reason, Incident, ClosedBy string
	OpenedAt, ExpiresAt, EndedAt                                 *time.Time
	Targets                                                      int
	Held                                                         []string
}

type breakGlassListData struct {
	Open, Ended []bgRow
	// More counts ended windows not shown (beyond maxRows).
	More int
	// Empty is true when the person may read no namespace at all.
	Empty bool
}

type breakGlassData struct {
	BG        *corev1alpha1.BreakGlass
	Open      bool
	OpenedAt  *time.Time
	ExpiresAt *time.Time
	EndedAt   *time.Time
	Targets   []targetView
}

// targetView is one target with its state and divergence, in words.
type targetView struct {
	corev1alpha1.BreakGlassTargetStatus
	URL     string
	Meaning string
	Rows    []fieldRow
}

// fieldRow is one field of the git / object / cloud comparison.
type fieldRow struct {
	Path, Git, Object, Cloud string
	// ObjectDiffers and CloudDiffers: the value is not git's.
	ObjectDiffers, CloudDiffers bool
	// Difference says which of the three disagree, in words.
	Difference string
}

// targetMeanings say what a target's state means and what comes next.
var targetMeanings = map[corev1alpha1.TargetState]string{
	corev1alpha1.TargetOpen:     "The window is open: its opener may edit the object directly",
	corev1alpha1.TargetInSync:   "The object matched git when the window ended",
	corev1alpha1.TargetHeld:     "The object differs from git: the syncer leaves it alone until git catches up (backport) or someone reverts it",
	corev1alpha1.TargetReleased: "Git caught up with the object: the hold ended",
	corev1alpha1.TargetReverted: "The object was put back to what git says",
	"Returned":                  "The window ended: Flux applies the object again",
}

// listBreakGlasses lists break-glasses as the person in what they may
// read; a list they may not make is left out.
func (h *Handler) listBreakGlasses(ctx context.Context, ss *session, sc *scope) ([]corev1alpha1.BreakGlass, error) {
	var items []corev1alpha1.BreakGlass
	lists := []string{""}
	if !sc.all {
		lists = sc.namespaces
	}
	for _, ns := range lists {
		var l corev1alpha1.BreakGlassList
		err := ss.c.List(ctx, &l, client.InNamespace(ns))
		if meta.IsNoMatchError(err) || apierrors.IsForbidden(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing break-glasses: %w", err)
		}
		items = append(items, l.Items...)
	}
	return items, nil
}

// bgOpen is whether a window is open (or not yet opened by the
// controller, which comes to the same for the person).
func bgOpen(b *corev1alpha1.BreakGlass) bool {
	return b.Status.Phase == "" || b.Status.Phase == corev1alpha1.BreakGlassActive
}

// bgExpiresAt is when the window closes by itself: the status says, and
// before the controller has run it is the creation time plus the duration.
func bgExpiresAt(b *corev1alpha1.BreakGlass) *time.Time {
	t := b.CreationTimestamp.Add(b.Spec.Duration.Duration)
	if b.Status.ExpiresAt != nil {
		t = b.Status.ExpiresAt.Time
	}
	return &t
}

func metaTime(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}

func (h *Handler) breakGlassList(w http.ResponseWriter, r *http.Request) {
	ss, sc := h.pageSession(w, r)
	if ss == nil {
		return
	}
	ctx := r.Context()
	d := &breakGlassListData{Empty: !sc.all && len(sc.namespaces) == 0}
	items, err := h.listBreakGlasses(ctx, ss, sc)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	for i := range items {
		b := &items[i]
		row := bgRow{Namespace: b.Namespace, Name: b.Name, Phase: string(b.Status.Phase), OpenedBy: b.Status.OpenedBy,
			Reason: b.Spec.Reason, Incident: b.Spec.Incident, ClosedBy: b.Status.ClosedBy,
			ExpiresAt: bgExpiresAt(b), Targets: len(b.Status.Targets), Held: b.Status.Held}
		row.OpenedAt = metaTime(b.Status.OpenedAt)
		row.EndedAt = metaTime(b.Status.EndedAt)
		if bgOpen(b) {
			d.Open = append(d.Open, row)
		} else {
			d.Ended = append(d.Ended, row)
		}
	}
	// Open: the next to end first. Ended: those still holding objects
	// first, then the latest to end.
	slices.SortFunc(d.Open, func(a, b bgRow) int {
		return cmp.Or(a.ExpiresAt.Compare(*b.ExpiresAt), cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
	})
	slices.SortFunc(d.Ended, func(a, b bgRow) int {
		if (len(a.Held) > 0) != (len(b.Held) > 0) {
			if len(a.Held) > 0 {
				return -1
			}
			return 1
		}
		return cmp.Or(endedAt(b).Compare(endedAt(a)), cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
	})
	if len(d.Ended) > maxEnded {
		d.More = len(d.Ended) - maxEnded
		d.Ended = d.Ended[:maxEnded]
	}
	h.render(w, r, "breakglasses", pageData{Title: "Break-glass", Person: &ss.person, BreakGlasses: d, Live: "/live?kind=BreakGlass"})
}

// maxEnded bounds the ended windows listed (the newest and those holding
// objects come first).
const maxEnded = 500

func endedAt(r bgRow) time.Time {
	if r.EndedAt == nil {
		return time.Time{}
	}
	return *r.EndedAt
}

func (h *Handler) breakGlass(w http.ResponseWriter, r *http.Request) {
	ss := h.session(w, r)
	if ss == nil {
		return
	}
	ctx := r.Context()
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	b := &corev1alpha1.BreakGlass{}
	err := ss.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, b)
	switch {
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err), meta.IsNoMatchError(err):
		// The same answer for both: a person learns nothing of another
		// team's windows.
		h.fail(w, r, ss, http.StatusNotFound, fmt.Errorf("break-glass %s/%s: not found, or you may not read it", ns, name))
		return
	case err != nil:
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	d := &breakGlassData{BG: b, Open: bgOpen(b), ExpiresAt: bgExpiresAt(b), OpenedAt: metaTime(b.Status.OpenedAt), EndedAt: metaTime(b.Status.EndedAt)}
	if d.OpenedAt == nil {
		d.OpenedAt = &b.CreationTimestamp.Time
	}
	for _, t := range b.Status.Targets {
		v := targetView{BreakGlassTargetStatus: t, URL: targetURL(ns, t), Meaning: targetMeanings[t.State]}
		for _, f := range t.Fields {
			v.Rows = append(v.Rows, compareField(f))
		}
		d.Targets = append(d.Targets, v)
	}
	h.render(w, r, "breakglass", pageData{Title: "Break-glass " + ns + "/" + name, Person: &ss.person, BreakGlass: d,
		Live: "/live?kind=BreakGlass&ns=" + url.QueryEscape(ns)})
}

// compareField says which of git, the object and the cloud disagree.
// Git is the reference: a cell is marked when it differs from git.
func compareField(f corev1alpha1.DivergedField) fieldRow {
	row := fieldRow{Path: f.Path, Git: f.Git, Object: f.Object, Cloud: f.Cloud, ObjectDiffers: f.Object != f.Git, CloudDiffers: f.Cloud != f.Git}
	switch {
	case !row.ObjectDiffers && !row.CloudDiffers:
		row.Difference = "same in all three"
	case row.ObjectDiffers && row.CloudDiffers && f.Object != f.Cloud:
		row.Difference = "all three differ"
	case row.ObjectDiffers && row.CloudDiffers:
		row.Difference = "object and cloud differ from git"
	case row.ObjectDiffers:
		row.Difference = "object differs from git and the cloud"
	default:
		row.Difference = "cloud differs from git and the object"
	}
	return row
}

// targetURL is a target's object page.
func targetURL(ns string, t corev1alpha1.BreakGlassTargetStatus) string {
	group := ""
	if g, _, ok := strings.Cut(t.APIVersion, "/"); ok {
		group = g
	}
	kind := strings.ToLower(t.Kind)
	if group != "" {
		kind += "." + group
	}
	return "/o/" + url.PathEscape(ns) + "/" + url.PathEscape(kind) + "/" + url.PathEscape(t.Name)
}

// bgURL is a break-glass's page.
func bgURL(ns, name string) string {
	return "/breakglass/" + url.PathEscape(ns) + "/" + url.PathEscape(name)
}
