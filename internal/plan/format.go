package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/infraplane/infraplane/internal/managed"
)

// Summary counts the plan's changes the way the headline shows them.
type Summary struct {
	Create, Update, Delete, Unchanged, Destructive, Blocked int
}

// Summarize counts changes; an object counts once, by its most
// significant action on either side.
func (r *Result) Summarize() Summary {
	var s Summary
	for _, c := range r.Changes {
		switch {
		case c.Kube.Action == KubeDelete || (c.Cloud != nil && c.Cloud.Action == managed.PlanDelete):
			s.Delete++
		case c.Kube.Action == KubeCreate || (c.Cloud != nil && c.Cloud.Action == managed.PlanCreate):
			s.Create++
		case c.Kube.Action == KubeUpdate || (c.Cloud != nil && c.Cloud.Action == managed.PlanUpdate):
			s.Update++
		default:
			s.Unchanged++
		}
		if c.Destructive() {
			s.Destructive++
		}
		if c.Cloud != nil && c.Cloud.Action == managed.PlanBlocked {
			s.Blocked++
		}
	}
	return s
}

func (s Summary) String() string {
	out := fmt.Sprintf("%d to create, %d to change, %d to delete, %d unchanged", s.Create, s.Update, s.Delete, s.Unchanged)
	if s.Destructive > 0 {
		out += fmt.Sprintf(" — %d destructive", s.Destructive)
	}
	if s.Blocked > 0 {
		out += fmt.Sprintf(" — %d blocked", s.Blocked)
	}
	return out
}

// Write renders the plan as "table", "markdown" or "json".
func (r *Result) Write(w io.Writer, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "markdown", "md":
		r.writeMarkdown(w)
		return nil
	case "table", "":
		r.writeTable(w)
		return nil
	}
	return fmt.Errorf("unknown output format %q (table, markdown, json)", format)
}

func symbol(c Change) string {
	switch {
	case c.Kube.Action == KubeDelete || (c.Cloud != nil && c.Cloud.Action == managed.PlanDelete):
		return "-"
	case c.Kube.Action == KubeCreate || (c.Cloud != nil && c.Cloud.Action == managed.PlanCreate):
		return "+"
	case c.Cloud != nil && c.Cloud.Action == managed.PlanBlocked:
		return "!"
	case c.Kube.Action == KubeUpdate || (c.Cloud != nil && c.Cloud.Action == managed.PlanUpdate):
		return "~"
	}
	return "="
}

func cloudText(c Change) string {
	if c.Cloud == nil {
		return "-"
	}
	s := c.Cloud.Action
	if c.Cloud.Resource != "" {
		s += " " + c.Cloud.Resource
	}
	return s
}

func kubeFieldText(f FieldChange) string {
	switch {
	case f.Old == "":
		return fmt.Sprintf("%s: %s", f.Path, f.New)
	case f.New == "":
		return fmt.Sprintf("%s: %s -> (removed)", f.Path, f.Old)
	}
	return fmt.Sprintf("%s: %s -> %s", f.Path, f.Old, f.New)
}

func cloudFieldText(f managed.FieldDiff) string {
	s := fmt.Sprintf("%s: %s -> %s", f.Field, orUnset(f.Actual), orUnset(f.Desired))
	if f.Immutable {
		s += " (cannot change in place)"
	}
	return s
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

func (r *Result) writeTable(w io.Writer) {
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "Nothing would be applied: %d problems\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintln(w, "  "+p.String())
		}
		return
	}
	fmt.Fprintf(w, "Plan for namespace %s: %s\n\n", r.Namespace, r.Summarize())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tOBJECT\tKUBERNETES\tCLOUD\tNOTE")
	for _, c := range r.Changes {
		note := c.Note
		if c.Cloud != nil {
			note = strings.TrimSpace(c.Cloud.Note + " " + note)
		}
		if c.Destructive() {
			note = strings.TrimSpace("DESTRUCTIVE " + note)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", symbol(c), c.Object, c.Kube.Action, cloudText(c), note)
		if c.Kube.Action == KubeUpdate {
			for _, f := range c.Kube.Fields {
				fmt.Fprintf(tw, "\t\t  %s\t\t\n", kubeFieldText(f))
			}
		}
		if c.Cloud != nil && c.Cloud.Action != managed.PlanCreate {
			for _, f := range c.Cloud.Fields {
				fmt.Fprintf(tw, "\t\t\t  %s\t\n", cloudFieldText(f))
			}
		}
	}
	tw.Flush()
}

func (r *Result) writeMarkdown(w io.Writer) {
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "### infraplane plan: nothing would be applied (%d problems)\n\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(w, "- `%s`: %s\n", p.Source, escapeMD(strings.TrimPrefix(p.String(), p.Source.String()+": ")))
		}
		return
	}
	s := r.Summarize()
	head := "### infraplane plan: " + s.String()
	if s.Destructive > 0 {
		head = "### :warning: infraplane plan: " + s.String()
	}
	fmt.Fprintf(w, "%s\n\nNamespace `%s`", head, r.Namespace)
	if r.Source != "" {
		fmt.Fprintf(w, ", GitSource `%s`", r.Source)
	}
	fmt.Fprint(w, ".\n\n| | object | Kubernetes | cloud |\n|---|---|---|---|\n")
	for _, c := range r.Changes {
		if symbol(c) == "=" {
			continue
		}
		var kube, cloud []string
		kube = append(kube, c.Kube.Action)
		if c.Kube.Action == KubeUpdate {
			for _, f := range c.Kube.Fields {
				kube = append(kube, "`"+escapeMD(kubeFieldText(f))+"`")
			}
		}
		cloud = append(cloud, cloudMD(c))
		if c.Cloud != nil && c.Cloud.Action != managed.PlanCreate {
			for _, f := range c.Cloud.Fields {
				cloud = append(cloud, "`"+escapeMD(cloudFieldText(f))+"`")
			}
		}
		if c.Cloud != nil && c.Cloud.Note != "" {
			cloud = append(cloud, "_"+escapeMD(c.Cloud.Note)+"_")
		}
		if c.Note != "" {
			cloud = append(cloud, "_"+escapeMD(c.Note)+"_")
		}
		fmt.Fprintf(w, "| %s | `%s` | %s | %s |\n", symbol(c), c.Object, strings.Join(kube, "<br>"), strings.Join(cloud, "<br>"))
	}
	if s.Unchanged > 0 {
		fmt.Fprintf(w, "\n%d objects unchanged.\n", s.Unchanged)
	}
}

func cloudMD(c Change) string {
	text := cloudText(c)
	if c.Destructive() {
		return ":warning: **" + escapeMD(text) + "**"
	}
	return escapeMD(text)
}

func escapeMD(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
