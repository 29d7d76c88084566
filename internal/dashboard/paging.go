package dashboard

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/infraplane/infraplane/internal/status"
)

// pageRows is how many objects a page of a namespace shows: a namespace
// of 10,000 objects is 50 pages, never one page of 10,000 rows.
const pageRows = 200

// pager is where a page is in a list of rows, with plain links to the
// pages before and after it (the same path and filters).
type pager struct {
	Page, Pages int
	// From and To number the rows shown (1-based, inclusive); Total is
	// the rows of all pages.
	From, To, Total int
	Prev, Next      string
}

// newPager places page (1-based; out of range is clamped) in total rows.
func newPager(total, page int) pager {
	p := pager{Total: total, Pages: max(1, (total+pageRows-1)/pageRows)}
	p.Page = min(max(page, 1), p.Pages)
	if total > 0 {
		p.From = (p.Page-1)*pageRows + 1
		p.To = min(p.Page*pageRows, total)
	}
	return p
}

// start and end are the 0-based row range [start, end) of the page.
func (p pager) start() int { return (p.Page - 1) * pageRows }
func (p pager) end() int   { return p.Page * pageRows }

// link fills in Prev and Next: path with the query q and the page.
func (p *pager) link(path string, q url.Values) {
	at := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			if len(vs) > 0 && vs[0] != "" {
				v.Set(k, vs[0])
			}
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
	if p.Page > 1 {
		p.Prev = at(p.Page - 1)
	}
	if p.Page < p.Pages {
		p.Next = at(p.Page + 1)
	}
}

// pageNumber is the page a query asks for (1 when absent or not a number).
func pageNumber(q url.Values) int {
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// matchesName reports whether an object's "Kind/name" contains the name
// filter, ignoring case ("" matches all).
func matchesName(o *status.Object, filter string) bool {
	if filter == "" {
		return true
	}
	return strings.Contains(strings.ToLower(o.Kind+"/"+o.Name), strings.ToLower(filter))
}

// treeRows counts the rows of trees: every object, children included.
func treeRows(objs []*status.Object) int {
	n := 0
	for _, o := range objs {
		n += 1 + treeRows(o.Children)
	}
	return n
}

// pageTree keeps of the trees objs the rows numbered [from, to), counting
// in the order the page draws them from *row on, and the ancestors of
// those rows, so that a page that starts inside a subtree still shows
// what it hangs under. The kept objects are copies; objs is not changed.
func pageTree(objs []*status.Object, row *int, from, to int) []*status.Object {
	var out []*status.Object
	for _, o := range objs {
		if *row >= to {
			break
		}
		i := *row
		*row++
		children := pageTree(o.Children, row, from, to)
		if i >= from || len(children) > 0 {
			c := *o
			c.Children = children
			out = append(out, &c)
		}
	}
	return out
}

// pageReport narrows a namespace's report to one page of its trees: the
// sections (GitSources, objects not from git) with rows on the page, and
// on the first page also the GitSources that applied nothing.
func pageReport(r *status.Report, p pager) *status.Report {
	out := *r
	out.Sources, out.NotFromGit = nil, nil
	row := 0
	for _, s := range r.Sources {
		first := row
		objs := pageTree(s.Objects, &row, p.start(), p.end())
		row = first + treeRows(s.Objects)
		if len(objs) > 0 || (len(s.Objects) == 0 && p.Page == 1) {
			c := *s
			c.Objects = objs
			out.Sources = append(out.Sources, &c)
		}
	}
	for _, n := range r.NotFromGit {
		first := row
		objs := pageTree(n.Objects, &row, p.start(), p.end())
		row = first + treeRows(n.Objects)
		if len(objs) > 0 {
			out.NotFromGit = append(out.NotFromGit, &status.NamespaceObjects{Namespace: n.Namespace, Objects: objs})
		}
	}
	return &out
}

// filterRows are the objects of a namespace in a state and matching the
// name filter, as rows without their children (each is a row of its own).
func filterRows(objs []*status.Object, ns, state, name string) []*status.Object {
	var out []*status.Object
	for _, o := range objs {
		if o.Namespace != ns || !counted(o) || (state != "" && stateOf(o) != state) || !matchesName(o, name) {
			continue
		}
		c := *o
		c.Children = nil
		out = append(out, &c)
	}
	return out
}
