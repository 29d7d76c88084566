package status

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// DefaultWidth is the line width tables wrap long messages at.
const DefaultWidth = 100

// minTextWidth is the narrowest a wrapped column gets, however deep the tree.
const minTextWidth = 40

// WriteOptions say how to render a report.
type WriteOptions struct {
	// Format is "table" (default) or "json".
	Format string
	// Width is the line width for wrapping messages (DefaultWidth when 0).
	Width int
}

func (o WriteOptions) width() int {
	if o.Width <= 0 {
		return DefaultWidth
	}
	return o.Width
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Write renders the report as a table or JSON.
func (r *Report) Write(w io.Writer, o WriteOptions) error {
	switch o.Format {
	case "json":
		return writeJSON(w, r)
	case "table", "":
		p := &printer{w: w, width: o.width()}
		r.writeTable(p)
		return p.err
	}
	return fmt.Errorf("unknown output format %q (table, json)", o.Format)
}

// Write renders the trace as a table or JSON.
func (t *TraceReport) Write(w io.Writer, o WriteOptions) error {
	switch o.Format {
	case "json":
		return writeJSON(w, t)
	case "table", "":
		p := &printer{w: w, width: o.width()}
		switch {
		case t.Object != nil:
			t.Object.writeTable(p)
		case t.Source != nil:
			t.Source.writeTable(p)
		}
		return p.err
	}
	return fmt.Errorf("unknown output format %q (table, json)", o.Format)
}

// printer writes lines and remembers the first error.
type printer struct {
	w     io.Writer
	width int
	err   error
}

func (p *printer) line(format string, args ...any) {
	if p.err != nil {
		return
	}
	s := format
	if len(args) > 0 {
		s = fmt.Sprintf(format, args...)
	}
	_, p.err = io.WriteString(p.w, strings.TrimRight(s, " ")+"\n")
}

// wrapped writes text after first (the first line's prefix), wrapped to
// the width; later lines start with rest (the same width as first, as a
// rule). Lines of the text keep their own indentation.
func (p *printer) wrapped(first, rest, text string) {
	avail := max(p.width-max(width(first), width(rest)), minTextWidth)
	lines := wrap(text, avail)
	for i, l := range lines {
		if i == 0 {
			p.line("%s%s", first, l)
		} else {
			p.line("%s%s", rest, l)
		}
	}
}

func width(s string) int { return utf8.RuneCountInString(s) }

func pad(s string, n int) string {
	if d := n - width(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}

// wrap breaks text into lines of at most w characters at spaces (a word
// longer than w gets a line of its own). Each line of the text is wrapped
// on its own; its leading spaces are kept on its continuation lines.
func wrap(text string, w int) []string {
	var out []string
	for _, para := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		lead := para[:len(para)-len(strings.TrimLeft(para, " \t"))]
		words := strings.Fields(para)
		if len(words) == 0 {
			out = append(out, "")
			continue
		}
		cur := lead + words[0]
		for _, word := range words[1:] {
			if width(cur)+1+width(word) > w {
				out = append(out, cur)
				cur = lead + word
				continue
			}
			cur += " " + word
		}
		out = append(out, cur)
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// --- infraplane status ---------------------------------------------------

const (
	cellWidth = 7 // "Unknown"
	colGap    = "  "
)

var conditionColumns = []string{"READY", "SYNCED", "DRIFTED", "PAUSED"}

func (r *Report) writeTable(p *printer) {
	nameW := width("OBJECT")
	for _, s := range r.Sources {
		nameW = max(nameW, treeWidth(s.Objects, 0))
	}
	for _, g := range r.NotFromGit {
		nameW = max(nameW, treeWidth(g.Objects, 0))
	}
	if len(r.Sources) == 0 && len(r.NotFromGit) == 0 {
		if r.Namespace == "" {
			p.line("No GitSources and no managed objects in any namespace.")
		} else {
			p.line("No GitSources and no managed objects in namespace %q.", r.Namespace)
		}
	}
	for i, s := range r.Sources {
		if i > 0 {
			p.line("")
		}
		s.writeHeader(p)
		p.line("")
		writeObjects(p, s.Objects, nameW, "  ", "(no objects applied)", false)
	}
	for i, g := range r.NotFromGit {
		if i > 0 || len(r.Sources) > 0 {
			p.line("")
		}
		p.line("Not from git (namespace %s):", g.Namespace)
		writeObjects(p, g.Objects, nameW, "  ", "", true)
	}
	p.line("")
	p.line("%s", r.Summary.String())
	if len(r.Unlisted) > 0 {
		p.line("Not shown: %s (you may not list them here; a Blueprint's kind needs its viewer role).", strings.Join(r.Unlisted, ", "))
	}
}

// writeHeader is a GitSource's line, its revision, its Ready message
// when it is not Ready, and its held prune.
func (s *Source) writeHeader(p *printer) {
	head := fmt.Sprintf("GitSource %s/%s: %s", s.Namespace, s.Name, readyWord(s.Ready))
	if s.Ready.Status != "True" {
		why := s.Ready.Reason
		if s.Ready.Age != "" {
			why += " for " + s.Ready.Age
		}
		head += " (" + why + ")"
	}
	if s.TargetNamespace != s.Namespace {
		head += ", applies to namespace " + s.TargetNamespace
	}
	p.line("%s", head)
	if a := s.Applied; a != nil {
		rev := "revision " + revisionLine(a.Short, a.Author, a.Age)
		if a.Message != "" {
			rev += fmt.Sprintf(": %q", a.Message)
		}
		p.wrapped("  ", "    ", rev)
	} else {
		p.line("  nothing applied yet")
	}
	if s.LastAttempted != "" {
		p.line("  last attempted: %s", shortRevision(s.LastAttempted))
	}
	// A held prune says it all below; other failures say it here.
	if s.Ready.Status != "True" && s.Ready.Message != "" && (s.PruneHeld == nil || s.Ready.Message != s.PruneHeld.Message) {
		p.wrapped("  "+s.Ready.Reason+": ", "    ", s.Ready.Message)
	}
	if h := s.PushHook; h != nil {
		p.wrapped("  ! PushHook "+h.Reason+": ", "      ", h.Message)
	}
	if h := s.PruneHeld; h != nil {
		lead := fmt.Sprintf("! PruneHeld: %d %s held from pruning: %s", len(h.Objects), plural(len(h.Objects), "object", "objects"), strings.Join(h.Objects, ", "))
		p.wrapped("  ", "      ", lead)
		if h.Message != "" {
			p.wrapped("    ", "      ", h.Message)
		}
	}
}

func readyWord(c Condition) string {
	switch c.Status {
	case "True":
		return "Ready"
	case "False":
		return "NOT READY"
	}
	return "Unknown"
}

// treeWidth is the widest name cell of a tree, with its branch prefix.
func treeWidth(objs []*Object, depth int) int {
	w := 0
	for _, o := range objs {
		w = max(w, 3*depth+width(o.ID()))
		w = max(w, treeWidth(o.Children, depth+1))
	}
	return w
}

// writeObjects writes a header and one row per object of the tree, each
// followed by what is wrong with it. notFromGit is set for objects no
// GitSource lists (their source label, if any, is worth a word).
func writeObjects(p *printer, objs []*Object, nameW int, indent, empty string, notFromGit bool) {
	if len(objs) == 0 {
		if empty != "" {
			p.line("%s%s", indent, empty)
		}
		return
	}
	head := indent + pad("OBJECT", nameW)
	for _, c := range conditionColumns {
		head += colGap + pad(c, cellWidth)
	}
	p.line("%s", head)
	for _, o := range objs {
		writeNode(p, o, indent, "", "", nameW, notFromGit)
	}
}

func writeNode(p *printer, o *Object, indent, headPrefix, contPrefix string, nameW int, notFromGit bool) {
	row := indent + pad(headPrefix+o.ID(), nameW)
	for _, v := range []string{o.Ready, o.Synced, o.Drifted, o.Paused} {
		if v == "" {
			v = "-"
		}
		row += colGap + pad(v, cellWidth)
	}
	p.line("%s", row)

	// Details go under the name, left of the branch the children hang on.
	detail := indent + contPrefix
	if len(o.Children) > 0 {
		detail += "│  "
	} else {
		detail += "   "
	}
	for _, d := range o.details(notFromGit) {
		p.wrapped(detail, detail+"  ", d)
	}
	for i, c := range o.Children {
		if i == len(o.Children)-1 {
			writeNode(p, c, indent, contPrefix+"└─ ", contPrefix+"   ", nameW, notFromGit)
		} else {
			writeNode(p, c, indent, contPrefix+"├─ ", contPrefix+"│  ", nameW, notFromGit)
		}
	}
}

// details are the lines under an object's row: why it is not Ready or
// Synced, drift, pause, held prune, deletion.
func (o *Object) details(notFromGit bool) []string {
	var out []string
	if o.Missing {
		out = append(out, "missing: listed in the inventory, but the object does not exist")
	}
	switch {
	case o.NotCreated:
		out = append(out, "not created: "+cmp.Or(o.InstanceMessage, "not yet"))
	case o.InstanceMessage != "" && o.Ready != "True":
		out = append(out, o.ChildOf+" says: "+o.InstanceMessage)
	}
	if o.InstanceNotFound {
		out = append(out, fmt.Sprintf("made by %s (resource %s), which was not found", o.ChildOf, o.Resource))
	}
	if o.DeletingSince != nil {
		out = append(out, "being deleted")
	}
	if c := o.Cause; c != nil {
		s := "cause: "
		if c.For != "" {
			s = "cause (for " + c.For + "): "
		}
		out = append(out, s+c.String())
		if c.Note != "" {
			out = append(out, "note: "+c.Note)
		}
	}
	switch {
	case o.DriftReason == "PendingChanges":
		out = append(out, "pending spec change: "+o.DriftMessage)
	case len(o.Drift) > 0:
		for _, d := range o.Drift {
			out = append(out, fmt.Sprintf("drift: %s: desired %s, actual %s", d.Field, quoteEmpty(d.Desired), quoteEmpty(d.Actual)))
		}
	case o.Drifted == "True":
		out = append(out, "drifted: "+o.DriftReason+": "+o.DriftMessage)
	}
	if o.Paused == "True" {
		s := "paused: " + o.PausedReason
		if o.PausedMessage != "" {
			s += ": " + o.PausedMessage
		}
		out = append(out, s)
	}
	if o.HeldPrune {
		out = append(out, "held: left git; its pruning waits for confirmation (see PruneHeld above)")
	}
	if o.DivergedMessage != "" {
		out = append(out, "held after break-glass: "+o.DivergedMessage)
	}
	if notFromGit && o.Source != "" {
		ns, name, _ := strings.Cut(o.Source, ".")
		out = append(out, fmt.Sprintf("labelled as applied by GitSource %s/%s, which does not list it", ns, name))
	}
	return out
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// --- infraplane trace ----------------------------------------------------

const keyWidth = 18

func (p *printer) kv(key, value string) {
	if value == "" {
		return
	}
	p.wrapped(pad("  "+key+":", keyWidth), strings.Repeat(" ", keyWidth), value)
}

func (t *ObjectTrace) writeTable(p *printer) {
	p.line("%s %s/%s (%s)", t.Kind, t.Namespace, t.Name, t.APIVersion)
	if t.Instance != nil {
		t.writeInstanceHead(p)
	} else {
		t.writeManagedHead(p)
	}
	if l := t.Parent; l != nil {
		s := fmt.Sprintf("%s/%s (resource %s)", l.Kind, l.Name, l.Resource)
		switch {
		case !l.Found:
			s += ", which was not found"
		case l.Ready == "True":
			s += ": Ready"
		case l.Ready != "":
			s += ": Ready " + l.Ready + " (" + l.Reason + ")"
		}
		p.kv("instance", s)
	}
	switch g := t.GitSource; {
	case g == nil && t.Parent != nil && t.Parent.Found:
		p.kv("git", "not from git: made by its instance, which is not from git either")
	case g == nil:
		p.kv("git", "not from git (no "+"infraplane.dev/source label)")
	case !g.Found:
		p.kv("git", fmt.Sprintf("labelled by GitSource %s/%s, which does not exist", g.Namespace, g.Name))
	default:
		s := fmt.Sprintf("GitSource %s/%s", g.Namespace, g.Name)
		if g.Via != "" {
			s = fmt.Sprintf("through its instance %s, from %s", g.Via, s)
		}
		if !g.InInventory {
			s += " (labelled by it, but not in its inventory)"
		}
		if g.File != "" {
			s += ", file " + g.File
		}
		p.kv("git", s)
		if a := g.Applied; a != nil {
			p.kv("applied", revisionLine(a.Short, a.Author, a.Age))
		}
		if c := g.LastChange; c != nil {
			s := fmt.Sprintf("%s ago, sync of %s", c.Age, c.Short)
			if c.Author != "" {
				s += " by " + c.Author
			}
			if c.Message != "" {
				s += fmt.Sprintf(": %q", c.Message)
			}
			s += fmt.Sprintf(" (%s)", changes(*c))
			p.kv("last change", s)
		} else if g.Note != "" {
			p.kv("last change", g.Note)
		}
	}

	p.line("")
	p.line("Conditions:")
	writeConditions(p, t.Conditions)

	if in := t.Instance; in != nil && len(in.Resources) > 0 {
		p.line("")
		p.line("Resources (in the order the instance makes them):")
		rows := [][]string{{"ID", "OBJECT", "READY", "OWN READY", "MESSAGE"}}
		for _, r := range in.Resources {
			name := r.Kind + "/" + r.Name
			if r.Name == "" {
				name = r.Kind + " (not created)"
			}
			rows = append(rows, []string{r.ID, name, fmt.Sprint(r.Ready), dash(r.State), r.Message})
		}
		writeRows(p, rows)
	}
	t.writeBody(p)
}

// writeInstanceHead is what a Blueprint instance has instead of a cloud
// resource and policies: its Blueprint and revision.
func (t *ObjectTrace) writeInstanceHead(p *printer) {
	in := t.Instance
	bp := cmp.Or(in.Blueprint, "(the Blueprints were not read)")
	switch {
	case in.Revision == 0:
		bp += ", no revision rendered yet"
	default:
		bp += fmt.Sprintf(", revision %d", in.Revision)
	}
	if in.TargetRevision != 0 && in.TargetRevision != in.Revision {
		bp += fmt.Sprintf(" (moving to revision %d)", in.TargetRevision)
	}
	p.kv("blueprint", bp)
	gen := fmt.Sprintf("%d, observed %d", t.Generation, t.ObservedGeneration)
	if t.PendingSpecChange {
		gen += ": the current spec is not rendered yet"
	} else {
		gen += ": the spec is rendered"
	}
	p.kv("generation", gen)
	if t.DeletingSince != nil {
		p.kv("deleting", "since "+t.DeletingSince.UTC().Format("2006-01-02T15:04:05Z"))
	}
}

func (t *ObjectTrace) writeManagedHead(p *printer) {
	res := t.SelfLink
	if res == "" {
		res = "none yet (not created or adopted)"
	}
	if t.ResourceID != "" {
		res += " (id " + t.ResourceID + ")"
	}
	p.kv("cloud resource", res)
	gen := fmt.Sprintf("%d, synced %d", t.Generation, max(t.SyncedGeneration, 0))
	switch {
	case !t.PendingSpecChange:
		gen += ": the spec is applied"
	case t.SyncedGeneration <= 0:
		gen += ": the spec was never applied successfully"
	default:
		gen += ": the current spec is not applied yet (a change is pending or failing)"
	}
	p.kv("generation", gen)
	if t.LastSyncTime != nil {
		p.kv("last sync", fmt.Sprintf("%s ago (%s)", t.LastSyncAge, t.LastSyncTime.UTC().Format("2006-01-02T15:04:05Z")))
	} else {
		p.kv("last sync", "never")
	}
	var pol []string
	if t.ManagementPolicy != "" {
		pol = append(pol, "managementPolicy "+t.ManagementPolicy)
	}
	if t.DeletionPolicy != "" {
		pol = append(pol, "deletionPolicy "+t.DeletionPolicy)
	}
	p.kv("policies", strings.Join(pol, ", "))
	if t.DeletingSince != nil {
		p.kv("deleting", "since "+t.DeletingSince.UTC().Format("2006-01-02T15:04:05Z"))
	}
}

// writeBody is what follows the conditions: references, cause, drift,
// events.
func (t *ObjectTrace) writeBody(p *printer) {
	if len(t.References) > 0 {
		p.line("")
		p.line("References:")
		rows := [][]string{{"FIELD", "TARGET", "READY"}}
		for _, r := range t.References {
			target, ready := r.Kind+"/"+r.Name, r.Ready
			switch {
			case r.External != "":
				target, ready = r.External, "(external)"
			case !r.Found:
				ready = "(does not exist)"
			case ready == "":
				ready = "-"
			case r.Reason != "" && ready != "True":
				ready += " (" + r.Reason + ")"
			}
			rows = append(rows, []string{r.Field, target, ready})
		}
		writeRows(p, rows)
	}

	if c := t.Cause; c != nil {
		p.line("")
		if c.For != "" {
			p.line("Blocked for %s by:", c.For)
		} else {
			p.line("Blocked by:")
		}
		p.wrapped("  ", "    ", c.String())
		if c.Note != "" {
			p.wrapped("  note: ", "    ", c.Note)
		}
	}

	if len(t.Drift) > 0 || t.Drifted == "True" {
		p.line("")
		if t.DriftReason != "" {
			p.wrapped("Drift ("+t.DriftReason+"): ", "  ", t.DriftMessage)
		} else {
			p.line("Drift:")
		}
		if len(t.Drift) > 0 {
			rows := [][]string{{"FIELD", "DESIRED", "ACTUAL"}}
			for _, d := range t.Drift {
				rows = append(rows, []string{d.Field, quoteEmpty(d.Desired), quoteEmpty(d.Actual)})
			}
			writeRows(p, rows)
		}
	}

	p.line("")
	writeEvents(p, t.Events)
}

func (t *SourceTrace) writeTable(p *printer) {
	p.line("GitSource %s/%s", t.Namespace, t.Name)
	p.kv("url", t.URL)
	p.kv("ref", fmt.Sprintf("%s, path %s, into namespace %s", t.Ref, t.Path, t.TargetNamespace))
	sync := "every " + shortDuration(t.Interval)
	if t.Interval == "" {
		sync = "every 1m (the default)"
	}
	if t.Prune {
		sync += fmt.Sprintf(", prune (held beyond %d%%)", t.MaxPrunePercent)
	} else {
		sync += ", no prune"
	}
	if t.Suspended {
		sync += ", SUSPENDED"
	}
	p.kv("sync", sync)
	gen := fmt.Sprintf("%d, observed %d", t.Generation, t.ObservedGeneration)
	if t.Generation > t.ObservedGeneration {
		gen += ": a spec change is pending"
	} else {
		gen += ": the spec is synced"
	}
	p.kv("generation", gen)
	if a := t.Applied; a != nil {
		p.kv("applied", revisionLine(a.Short, a.Author, a.Age))
		if a.Message != "" {
			p.kv("commit", a.Message)
		}
	} else {
		p.kv("applied", "nothing yet")
	}
	if t.LastAttempted != "" {
		p.kv("last attempted", shortRevision(t.LastAttempted))
	}
	switch {
	case t.WebhookPath != "":
		p.kv("push hook", "POST "+t.WebhookPath)
	case t.PushHook != nil:
		p.kv("push hook", "none ("+t.PushHook.Reason+"; see the PushHook condition)")
	}

	p.line("")
	p.line("Conditions:")
	writeConditions(p, t.Conditions)

	if h := t.PruneHeld; h != nil {
		p.line("")
		if h.For != "" {
			p.line("Held prunes (%d, for %s):", len(h.Objects), h.For)
		} else {
			p.line("Held prunes (%d):", len(h.Objects))
		}
		p.wrapped("  ", "    ", strings.Join(h.Objects, ", "))
		if h.Message != "" {
			p.wrapped("  ", "    ", h.Message)
		}
	}

	p.line("")
	p.line("History (newest first):")
	if len(t.History) == 0 {
		p.line("  (none)")
	} else {
		rows := [][]string{{"AGE", "RESULT", "REVISION", "AUTHOR", "CHANGES", "MESSAGE"}}
		for _, h := range t.History {
			msg := h.Message
			switch {
			case h.Error == "":
			case t.PruneHeld != nil && h.Error == t.PruneHeld.Message:
				msg = strings.TrimSpace(msg + "\n" + "held: see Held prunes above")
			default:
				msg = strings.TrimSpace(msg + "\n" + strings.ToLower(h.Result) + ": " + h.Error)
			}
			author := h.Author
			if i := strings.Index(author, " <"); i > 0 {
				author = author[:i]
			}
			rows = append(rows, []string{h.Age, h.Result, h.Short, author, changes(h), msg})
		}
		writeRows(p, rows)
	}

	p.line("")
	p.line("Inventory:")
	nameW := max(width("OBJECT"), treeWidth(t.Objects, 0))
	writeObjects(p, t.Objects, nameW, "  ", "(nothing applied)", false)

	p.line("")
	writeEvents(p, t.Events)
}

// shortDuration drops zero units from a Go duration: "1m0s" is "1m".
func shortDuration(d string) string {
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return d
}

func revisionLine(short, author, age string) string {
	s := short
	if author != "" {
		s += " by " + author
	}
	if age != "" {
		s += ", " + age + " ago"
	}
	return s
}

func changes(h HistoryRecord) string {
	if h.Result != resultApplied {
		return "-"
	}
	return fmt.Sprintf("+%d ~%d =%d -%d", h.Created, h.Configured, h.Unchanged, h.Pruned)
}

func writeConditions(p *printer, conds []Condition) {
	rows := [][]string{{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}}
	for _, c := range conds {
		rows = append(rows, []string{c.Type, c.Status, dash(c.Reason), dash(c.Age), c.Message})
	}
	writeRows(p, rows)
}

func writeEvents(p *printer, events []Event) {
	if len(events) == 0 {
		p.line("Events: none (events expire after an hour)")
		return
	}
	p.line("Events (oldest first):")
	rows := [][]string{{"AGE", "TYPE", "REASON", "NOTE"}}
	for _, e := range events {
		note := e.Note
		if e.Count > 1 {
			note += fmt.Sprintf(" (x%d)", e.Count)
		}
		rows = append(rows, []string{dash(e.Age), e.Type, e.Reason, note})
	}
	writeRows(p, rows)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeRows writes an indented table whose columns are as wide as their
// widest cell, except the last, which wraps at the line width.
func writeRows(p *printer, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	n := len(rows[0])
	widths := make([]int, n)
	for _, r := range rows {
		for i := 0; i < n-1 && i < len(r); i++ {
			widths[i] = max(widths[i], width(r[i]))
		}
	}
	for _, r := range rows {
		lead := "  "
		for i := 0; i < n-1; i++ {
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			lead += pad(cell, widths[i]) + colGap
		}
		last := ""
		if len(r) >= n {
			last = r[n-1]
		}
		p.wrapped(lead, strings.Repeat(" ", width(lead)), last)
	}
}
