package localcloud

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// storageFix is a thin HTTP layer in front of fake-gcs-server that makes
// bucket metadata behave like Cloud Storage. The fake drops labels,
// location, storage class, uniform access, lifecycle rules and retention
// policies, and its PATCH resets versioning (and default event-based hold)
// when the request does not mention them. The layer remembers the dropped
// fields per bucket from inserts and patches, merges them into every bucket
// it returns, and fills in the fields a PATCH leaves out. Everything else
// (objects, uploads) passes through untouched. It also answers the
// project's service agent (projects.serviceAccount.get), which the fake
// does not serve, with the number ProjectNumber gives the project.
type storageFix struct {
	fake   *url.URL
	client *http.Client

	mu   sync.Mutex
	kept map[string]map[string]json.RawMessage // bucket -> field -> JSON value
}

// keptFields are the bucket fields the fake does not store.
var keptFields = []string{"labels", "location", "locationType", "storageClass", "iamConfiguration", "lifecycle", "retentionPolicy"}

// resetFields are the fields the fake's PATCH resets when they are absent.
var resetFields = []string{"versioning", "defaultEventBasedHold"}

func newStorageFix(fake *url.URL) *storageFix {
	return &storageFix{fake: fake, client: &http.Client{}, kept: map[string]map[string]json.RawMessage{}}
}

func (f *storageFix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if project, ok := serviceAccountPath(r.URL.Path); ok && r.Method == http.MethodGet {
		serviceAccount(w, project)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/storage/v1/b")
	if !ok {
		f.pass(w, r)
		return
	}
	method := r.Method
	if o := r.Header.Get("X-HTTP-Method-Override"); method == http.MethodPost && o != "" {
		method = o
	}
	switch bucket, _ := url.PathUnescape(strings.TrimPrefix(rest, "/")); {
	case bucket == "" && method == http.MethodPost:
		f.insert(w, r)
	case bucket == "" && method == http.MethodGet:
		f.list(w, r)
	case bucket != "" && !strings.Contains(bucket, "/") && method == http.MethodGet:
		f.get(w, r, bucket)
	case bucket != "" && !strings.Contains(bucket, "/") && method == http.MethodPatch:
		f.patch(w, r, bucket)
	case bucket != "" && !strings.Contains(bucket, "/") && method == http.MethodDelete:
		f.delete(w, r, bucket)
	default:
		f.pass(w, r)
	}
}

func (f *storageFix) insert(w http.ResponseWriter, r *http.Request) {
	body, req, ok := readJSON(w, r)
	if !ok {
		return
	}
	fields := map[string]json.RawMessage{}
	for _, k := range keptFields {
		if v, ok := req[k]; ok && string(v) != "null" {
			fields[k] = v
		}
	}
	// Cloud Storage defaults, and reports locations in upper case.
	loc := "US"
	_ = json.Unmarshal(fields["location"], &loc)
	loc = strings.ToUpper(loc)
	fields["location"] = mustJSON(loc)
	fields["locationType"] = mustJSON(locationType(loc))
	if _, ok := fields["storageClass"]; !ok {
		fields["storageClass"] = mustJSON("STANDARD")
	}
	stampRetention(fields)
	// The fake reports every bucket's project as number 0; Cloud Storage
	// names the project a bucket belongs to by number.
	fields["projectNumber"] = mustJSON(strconv.FormatUint(ProjectNumber(r.URL.Query().Get("project")), 10))

	status, hdr, out := f.forward(r, body)
	if status == http.StatusOK {
		var created struct{ Name string }
		if json.Unmarshal(out, &created) == nil && created.Name != "" {
			f.mu.Lock()
			f.kept[created.Name] = fields
			f.mu.Unlock()
			out = f.merge(out)
		}
	}
	write(w, status, hdr, out)
}

func (f *storageFix) patch(w http.ResponseWriter, r *http.Request, bucket string) {
	_, req, ok := readJSON(w, r)
	if !ok {
		return
	}
	// Keep what the fake would reset: read the current values first.
	if missing := absent(req, resetFields); len(missing) > 0 {
		status, _, cur := f.forward(getRequest(r), nil)
		if status == http.StatusOK {
			var current map[string]json.RawMessage
			if json.Unmarshal(cur, &current) == nil {
				for _, k := range missing {
					if v, ok := current[k]; ok {
						req[k] = v
					}
				}
			}
		}
	}
	body, _ := json.Marshal(req)
	status, hdr, out := f.forward(r, body)
	if status == http.StatusOK {
		f.mu.Lock()
		fields := f.kept[bucket]
		if fields == nil {
			fields = map[string]json.RawMessage{}
			f.kept[bucket] = fields
		}
		for _, k := range keptFields {
			v, ok := req[k]
			if !ok || k == "location" || k == "locationType" { // location cannot change
				continue
			}
			if merged := mergePatch(fields[k], v); merged == nil {
				delete(fields, k)
			} else {
				fields[k] = merged
			}
		}
		stampRetention(fields)
		f.mu.Unlock()
		out = f.merge(out)
	}
	write(w, status, hdr, out)
}

func (f *storageFix) get(w http.ResponseWriter, r *http.Request, _ string) {
	status, hdr, out := f.forward(r, nil)
	if status == http.StatusOK {
		out = f.merge(out)
	}
	write(w, status, hdr, out)
}

func (f *storageFix) list(w http.ResponseWriter, r *http.Request) {
	status, hdr, out := f.forward(r, nil)
	if status == http.StatusOK {
		var page map[string]json.RawMessage
		var items []json.RawMessage
		if json.Unmarshal(out, &page) == nil && json.Unmarshal(page["items"], &items) == nil {
			for i, it := range items {
				items[i] = f.merge(it)
			}
			page["items"], _ = json.Marshal(items)
			out, _ = json.Marshal(page)
		}
	}
	write(w, status, hdr, out)
}

func (f *storageFix) delete(w http.ResponseWriter, r *http.Request, bucket string) {
	status, hdr, out := f.forward(r, nil)
	switch {
	case status < 300:
		f.mu.Lock()
		delete(f.kept, bucket)
		f.mu.Unlock()
	case status == http.StatusPreconditionFailed:
		// Cloud Storage answers 409 Conflict for a bucket that still holds objects.
		status = http.StatusConflict
		out = mustJSON(map[string]any{"error": map[string]any{"code": status, "message": "The bucket you tried to delete is not empty."}})
		hdr.Set("Content-Type", "application/json")
	}
	write(w, status, hdr, out)
}

// merge overlays the kept fields of the bucket in JSON b.
func (f *storageFix) merge(b []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	var name string
	_ = json.Unmarshal(m["name"], &name)
	f.mu.Lock()
	for k, v := range f.kept[name] {
		m[k] = v
	}
	f.mu.Unlock()
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

// pass sends a request the layer does not change straight to the fake.
func (f *storageFix) pass(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status, hdr, out := f.forward(r, body)
	write(w, status, hdr, out)
}

// forward sends r (with body) to the fake and returns its answer.
func (f *storageFix) forward(r *http.Request, body []byte) (int, http.Header, []byte) {
	u := *f.fake
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return http.StatusBadGateway, http.Header{}, []byte(err.Error())
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Accept-Encoding") // plain JSON, so it can be rewritten
	req.ContentLength = int64(len(body))
	resp, err := f.client.Do(req)
	if err != nil {
		return http.StatusBadGateway, http.Header{}, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return http.StatusBadGateway, http.Header{}, []byte(err.Error())
	}
	return resp.StatusCode, resp.Header, out
}

func getRequest(r *http.Request) *http.Request {
	g := r.Clone(r.Context())
	g.Method = http.MethodGet
	g.Header.Del("X-HTTP-Method-Override")
	g.URL.RawQuery = ""
	return g
}

func write(w http.ResponseWriter, status int, hdr http.Header, body []byte) {
	for k, vs := range hdr {
		if k == "Content-Length" || k == "Content-Encoding" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// readJSON reads a JSON object request body; on error it answers 400.
func readJSON(w http.ResponseWriter, r *http.Request) ([]byte, map[string]json.RawMessage, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(mustJSON(map[string]any{"error": map[string]any{"code": 400, "message": "invalid JSON body: " + err.Error()}}))
			return nil, nil, false
		}
	}
	return body, m, true
}

func absent(m map[string]json.RawMessage, keys []string) []string {
	var out []string
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// mergePatch applies a PATCH value to an old one the way the JSON API does:
// objects merge key by key, null removes, anything else replaces. nil
// means the field is gone.
func mergePatch(old, patch json.RawMessage) json.RawMessage {
	if string(bytes.TrimSpace(patch)) == "null" {
		return nil
	}
	var o, p map[string]json.RawMessage
	if json.Unmarshal(old, &o) != nil || json.Unmarshal(patch, &p) != nil || o == nil || p == nil {
		return patch
	}
	for k, v := range p {
		if merged := mergePatch(o[k], v); merged == nil {
			delete(o, k)
		} else {
			o[k] = merged
		}
	}
	out, _ := json.Marshal(o)
	return out
}

// stampRetention gives a new retention policy its effective time, as
// Cloud Storage does (clients treat a policy without one as absent).
func stampRetention(fields map[string]json.RawMessage) {
	var rp map[string]json.RawMessage
	if json.Unmarshal(fields["retentionPolicy"], &rp) != nil || rp == nil {
		return
	}
	if _, ok := rp["effectiveTime"]; !ok {
		rp["effectiveTime"] = mustJSON(time.Now().UTC().Format(time.RFC3339Nano))
		fields["retentionPolicy"] = mustJSON(rp)
	}
}

// locationType is how Cloud Storage classifies a location.
func locationType(loc string) string {
	switch {
	case loc == "US" || loc == "EU" || loc == "ASIA":
		return "multi-region"
	case strings.Contains(loc, "-"):
		return "region"
	}
	return "dual-region"
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// serviceAccountPath returns the project of a projects.serviceAccount.get
// path, /storage/v1/projects/{project}/serviceAccount.
func serviceAccountPath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/storage/v1/projects/")
	if !ok {
		return "", false
	}
	project, ok := strings.CutSuffix(rest, "/serviceAccount")
	return project, ok && project != "" && !strings.Contains(project, "/")
}

// serviceAccount answers as Cloud Storage does: the project's Cloud
// Storage service agent, whose address holds the project's number. A
// project given by number is that number.
func serviceAccount(w http.ResponseWriter, project string) {
	n, err := strconv.ParseUint(project, 10, 64)
	if err != nil {
		n = ProjectNumber(project)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(mustJSON(map[string]string{
		"kind":          "storage#serviceAccount",
		"email_address": "service-" + strconv.FormatUint(n, 10) + "@gs-project-accounts.iam.gserviceaccount.com",
	}))
}

// ProjectNumber is the number the local cloud gives a project id (real
// projects have one, assigned by Google): stable, twelve digits.
func ProjectNumber(project string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(project))
	return 100_000_000_000 + h.Sum64()%900_000_000_000
}
