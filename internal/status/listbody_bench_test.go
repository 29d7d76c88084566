package status

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"testing"
	"time"
)

// topicListBody is a list answer of n Ready Topics shaped as the API
// server writes them for bench/cli's objects (docs/benchmarks.md, "Issue
// 17: status decoded from the list's bytes"): metadata with uid,
// resourceVersion, generation, labels and the managedFields of a create
// and a status update; spec; status with two conditions. About 1.9 kB an
// item, as the server's 38.4 MB for 20,000.
func topicListBody(tb testing.TB, n int) []byte {
	tb.Helper()
	t0 := now.Add(-time.Hour).Format(time.RFC3339)
	items := make([]any, n)
	for i := range items {
		name := fmt.Sprintf("topic-%05d", i)
		id := "projects/bench-cli/topics/" + name
		cond := func(typ, reason, msg string) map[string]any {
			return map[string]any{"type": typ, "status": "True", "reason": reason, "message": msg, "lastTransitionTime": t0, "observedGeneration": 1}
		}
		items[i] = map[string]any{
			"apiVersion": pubsubV1, "kind": "Topic",
			"metadata": map[string]any{
				"name": name, "namespace": "bench", "uid": fmt.Sprintf("0b7c6a3e-2f1d-4a8e-9c51-%012d", i),
				"resourceVersion": fmt.Sprint(100000 + i), "generation": 1, "creationTimestamp": t0,
				"labels": map[string]any{"team": "bench"},
				"managedFields": []any{
					map[string]any{"manager": "cli", "operation": "Update", "apiVersion": pubsubV1, "time": t0, "fieldsType": "FieldsV1",
						"fieldsV1": map[string]any{"f:metadata": map[string]any{"f:labels": map[string]any{".": map[string]any{}, "f:team": map[string]any{}}},
							"f:spec": map[string]any{".": map[string]any{}, "f:labels": map[string]any{".": map[string]any{}, "f:team": map[string]any{}, "f:tier": map[string]any{}}}}},
					map[string]any{"manager": "cli", "operation": "Update", "apiVersion": pubsubV1, "time": t0, "fieldsType": "FieldsV1", "subresource": "status",
						"fieldsV1": map[string]any{"f:status": map[string]any{".": map[string]any{}, "f:conditions": map[string]any{}, "f:lastSyncTime": map[string]any{},
							"f:observedGeneration": map[string]any{}, "f:resourceID": map[string]any{}, "f:selfLink": map[string]any{}, "f:syncedGeneration": map[string]any{}}}},
				},
			},
			"spec": map[string]any{"labels": map[string]any{"team": "bench", "tier": "standard"}, "deletionPolicy": "Delete"},
			"status": map[string]any{
				"conditions": []any{
					cond("Ready", "Available", "the topic exists and matches its spec"),
					cond("Synced", "ReconcileSuccess", "in sync with "+id),
				},
				"observedGeneration": 1, "syncedGeneration": 1, "resourceID": id,
				"selfLink": "https://pubsub.googleapis.com/v1/" + id, "lastSyncTime": t0,
			},
		}
	}
	data, err := json.Marshal(map[string]any{"apiVersion": pubsubV1, "kind": "TopicList",
		"metadata": map[string]any{"resourceVersion": "200000"}, "items": items})
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// BenchmarkStatusFromListBody is the CLI's side of `status -A` over one
// list of 20,000 Topics: decoding the answer, building the report and
// writing the table (no HTTP, no server).
//
//	go test ./internal/status -run '^$' -bench StatusFromListBody -benchmem -cpuprofile /tmp/status.pprof
func BenchmarkStatusFromListBody(b *testing.B) {
	body := topicListBody(b, 20000)
	b.SetBytes(int64(len(body)))
	kinds, err := LoadKinds()
	if err != nil {
		b.Fatal(err)
	}
	var topic Kind
	for _, k := range kinds {
		if k.Kind == "Topic" && k.Group == "pubsub.infraplane.dev" {
			topic = k
		}
	}
	raw := func(context.Context, string, url.Values) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	b.ResetTimer()
	for b.Loop() {
		objs, err := listRaw(context.Background(), raw, topic, "")
		if err != nil {
			b.Fatal(err)
		}
		r := BuildSnapshot(Snapshot{Now: now, Kinds: kinds, Rows: objs})
		if r.Summary.Ready != 20000 {
			b.Fatalf("%d ready", r.Summary.Ready)
		}
		if err := r.Write(io.Discard, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
