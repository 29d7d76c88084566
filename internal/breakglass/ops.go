package breakglass

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/backport"
)

// The operations behind `infraplane breakglass …`, kept here so the CLI
// only parses flags and prints, and tests drive exactly what people run.

// OpenRequest is what `breakglass open` asks for.
type OpenRequest struct {
	Namespace string
	// Name of the break-glass; default derived from the incident, else "bg-".
	Name string
	// Targets are "kind/name", e.g. subscription/orders-worker.
	Targets []string
	// Selector is a label selector ("team=payments"), optional.
	Selector       string
	Reason         string
	Incident       string
	Duration       time.Duration
	PauseActuation bool
}

// settle is how long the operations wait for the controller's answer.
const settle = 30 * time.Second

// Open creates a break-glass and waits until the controller has opened it
// (the opener's edits are allowed from then on).
func Open(ctx context.Context, c client.Client, req OpenRequest) (*corev1alpha1.BreakGlass, error) {
	var problems []string
	if strings.TrimSpace(req.Reason) == "" {
		problems = append(problems, "--reason is required: say what is broken and why review is bypassed (it goes into the audit ledger)")
	}
	if req.Duration <= 0 {
		problems = append(problems, "--duration is required, e.g. 1h: the window closes by itself then")
	}
	if len(req.Targets) == 0 && req.Selector == "" {
		problems = append(problems, "name what to change: --target kind/name (repeatable) or --selector key=value")
	}
	bg := &corev1alpha1.BreakGlass{
		ObjectMeta: metav1.ObjectMeta{Namespace: req.Namespace, Name: req.Name},
		Spec: corev1alpha1.BreakGlassSpec{
			Reason: req.Reason, Incident: req.Incident, Duration: metav1.Duration{Duration: req.Duration}, PauseActuation: req.PauseActuation,
		},
	}
	for _, t := range req.Targets {
		kind, name, ok := strings.Cut(t, "/")
		if !ok || kind == "" || name == "" {
			problems = append(problems, fmt.Sprintf("--target %q: want kind/name, e.g. subscription/orders-worker", t))
			continue
		}
		bg.Spec.Targets = append(bg.Spec.Targets, corev1alpha1.BreakGlassTarget{Kind: canonicalKind(kind), Name: name})
	}
	if req.Selector != "" {
		sel, err := metav1.ParseToLabelSelector(req.Selector)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--selector: %v", err))
		}
		bg.Spec.Selector = sel
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	if bg.Name == "" {
		if n := dnsLabel(req.Incident); n != "" {
			bg.GenerateName = n + "-"
		} else {
			bg.GenerateName = "bg-"
		}
	}
	if err := c.Create(ctx, bg); err != nil {
		return nil, Explain(err)
	}
	return waitFor(ctx, c, client.ObjectKeyFromObject(bg), "opened", func(bg *corev1alpha1.BreakGlass) bool { return bg.Status.Phase != "" })
}

// Close ends the window now and waits for the divergence report.
func Close(ctx context.Context, c client.Client, key client.ObjectKey) (*corev1alpha1.BreakGlass, error) {
	bg := &corev1alpha1.BreakGlass{}
	if err := c.Get(ctx, key, bg); err != nil {
		return nil, Explain(err)
	}
	if !bg.Spec.Closed && bg.Status.Phase == corev1alpha1.BreakGlassActive {
		patch := client.MergeFrom(bg.DeepCopy())
		bg.Spec.Closed = true
		if err := c.Patch(ctx, bg, patch); err != nil {
			return nil, Explain(err)
		}
	}
	return waitFor(ctx, c, key, "closed", func(bg *corev1alpha1.BreakGlass) bool {
		return bg.Status.Phase != "" && bg.Status.Phase != corev1alpha1.BreakGlassActive
	})
}

// Revert puts the held targets back to what git says (closing the window
// first if it is open) and waits until the controller has released them.
func Revert(ctx context.Context, c client.Client, key client.ObjectKey) (*corev1alpha1.BreakGlass, error) {
	bg, err := Close(ctx, c, key)
	if err != nil {
		return nil, err
	}
	if len(bg.Status.Held) == 0 {
		return bg, fmt.Errorf("break-glass %s holds nothing: every target matches git or was resolved", key.Name)
	}
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	patch := client.MergeFrom(bg.DeepCopy())
	if bg.Annotations == nil {
		bg.Annotations = map[string]string{}
	}
	bg.Annotations[corev1alpha1.RevertAnnotation] = stamp
	if err := c.Patch(ctx, bg, patch); err != nil {
		return nil, Explain(err)
	}
	return waitFor(ctx, c, key, "reverted", func(bg *corev1alpha1.BreakGlass) bool { return bg.Status.HandledRevert == stamp })
}

// BackportRequest says where to write the held targets' values.
type BackportRequest struct {
	// Repository overrides the GitSource's URL (e.g. a local clone).
	Repository string
	// Options for the commit (Branch, Base, Author, Credentials, …); URL
	// and Path default to the GitSource's.
	Options backport.Options
}

// Backport writes the held targets' current values into their GitSource's
// repository as a commit on a new branch, pushes it, and records it on the
// break-glass (the ledger entry). The hold ends once the branch is merged
// and synced. Held Blueprint children are left out (git holds their
// instance, not them); when only they are held it refuses, saying so.
func Backport(ctx context.Context, c client.Client, key client.ObjectKey, req BackportRequest) (backport.Result, error) {
	bg := &corev1alpha1.BreakGlass{}
	if err := c.Get(ctx, key, bg); err != nil {
		return backport.Result{}, Explain(err)
	}
	if bg.Status.Phase == corev1alpha1.BreakGlassActive {
		return backport.Result{}, fmt.Errorf("break-glass %s is still open: close it first (`infraplane breakglass close %s`), then backport what it reports", key.Name, key.Name)
	}
	var source string
	var changes []backport.Change
	var children []string
	for _, t := range bg.Status.Targets {
		if t.State != corev1alpha1.TargetHeld {
			continue
		}
		if t.Instance != "" {
			// git holds the instance, not its children: there is no file
			// to write the child's value into.
			children = append(children, fmt.Sprintf("%s/%s (of %s)", t.Kind, t.Name, t.Instance))
			continue
		}
		if source != "" && t.Source != source {
			return backport.Result{}, fmt.Errorf("held targets come from two GitSources (%s, %s): backport is one commit in one repository", source, t.Source)
		}
		source = t.Source
		live := &unstructured.Unstructured{}
		live.SetAPIVersion(t.APIVersion)
		live.SetKind(t.Kind)
		if err := c.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: t.Name}, live); err != nil {
			return backport.Result{}, fmt.Errorf("reading %s/%s: %w", t.Kind, t.Name, err)
		}
		ch := backport.Change{APIVersion: t.APIVersion, Kind: t.Kind, Name: t.Name}
		for _, f := range t.Fields {
			if f.Path == "(object)" {
				return backport.Result{}, fmt.Errorf("%s/%s is no longer in git: add it back by hand, or revert (`infraplane breakglass revert %s`)", t.Kind, t.Name, key.Name)
			}
			path := strings.Split(f.Path, ".")
			v, found, err := unstructured.NestedFieldNoCopy(live.Object, path...)
			if err != nil {
				return backport.Result{}, err
			}
			ch.Fields = append(ch.Fields, backport.Field{Path: path, Value: v, Remove: !found})
		}
		changes = append(changes, ch)
	}
	if len(changes) == 0 && len(children) > 0 {
		return backport.Result{}, fmt.Errorf("break-glass %s holds only Blueprint children (%s), which cannot be backported: git holds their instance, not them. To keep a value, change the instance in the repository (or the Blueprint) so that it renders it; the hold ends once the rendering matches. To drop it, revert (`infraplane breakglass revert %s`)",
			key.Name, strings.Join(children, ", "), key.Name)
	}
	if len(changes) == 0 {
		return backport.Result{}, fmt.Errorf("break-glass %s holds nothing to backport", key.Name)
	}
	gsNS, gsName, _ := strings.Cut(source, ".")
	gs := &corev1alpha1.GitSource{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: gsNS, Name: gsName}, gs); err != nil {
		return backport.Result{}, fmt.Errorf("reading GitSource %s/%s: %w", gsNS, gsName, err)
	}
	opts := req.Options
	opts.URL = gs.Spec.URL
	if req.Repository != "" {
		opts.URL = req.Repository
	}
	if opts.Path == "" {
		opts.Path = strings.TrimPrefix(gs.Spec.Path, "./")
		if opts.Path == "." {
			opts.Path = ""
		}
	}
	if opts.Base == "" {
		opts.Base = gs.Spec.Ref.Branch
	}
	if opts.Branch == "" {
		opts.Branch = "breakglass/" + bg.Name
	}
	if opts.Message == "" {
		var names []string
		for _, ch := range changes {
			names = append(names, ch.Kind+"/"+ch.Name)
		}
		opts.Message = fmt.Sprintf("Backport break-glass %s: %s\n\nReason: %s\nIncident: %s\nOpened by %s at %s.\n",
			bg.Name, strings.Join(names, ", "), bg.Spec.Reason, bg.Spec.Incident, bg.Status.OpenedBy, bg.Status.OpenedAt.UTC().Format(time.RFC3339))
	}
	res, err := backport.Backport(ctx, opts, changes)
	if err != nil {
		return res, err
	}
	patch := client.MergeFrom(bg.DeepCopy())
	if bg.Annotations == nil {
		bg.Annotations = map[string]string{}
	}
	bg.Annotations[corev1alpha1.BackportAnnotation] = fmt.Sprintf("%s %s %s", res.Branch, res.Commit, opts.URL)
	if err := c.Patch(ctx, bg, patch); err != nil {
		return res, fmt.Errorf("pushed %s but could not record it on the break-glass: %w", res.Branch, Explain(err))
	}
	return res, nil
}

// Explain strips the API server's wrapping from a webhook denial, leaving
// the message that says what to do.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		msg := se.ErrStatus.Message
		if i := strings.Index(msg, "denied the request: "); i >= 0 {
			return errors.New(msg[i+len("denied the request: "):])
		}
	}
	return err
}

func waitFor(ctx context.Context, c client.Client, key client.ObjectKey, what string, done func(*corev1alpha1.BreakGlass) bool) (*corev1alpha1.BreakGlass, error) {
	ctx, cancel := context.WithTimeout(ctx, settle)
	defer cancel()
	for {
		bg := &corev1alpha1.BreakGlass{}
		if err := c.Get(ctx, key, bg); err == nil && done(bg) {
			return bg, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("break-glass %s was not %s by the controller within %s: is infraplane running?", key.Name, what, settle)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// canonicalKind turns "subscription" into "Subscription".
func canonicalKind(k string) string {
	if k == "" {
		return k
	}
	if strings.ToLower(k) == k {
		return strings.ToUpper(k[:1]) + k[1:]
	}
	return k
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

func dnsLabel(s string) string {
	s = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 40 {
		s = strings.Trim(s[:40], "-")
	}
	return s
}
