package status

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// listBody is a list answer holding objects, each with the managedFields
// the server adds (which the decoder skips).
func listBody(t *testing.T, objects []*unstructured.Unstructured) []byte {
	t.Helper()
	items := []any{}
	for _, u := range objects {
		c := u.DeepCopy()
		c.Object["metadata"].(map[string]any)["managedFields"] = []any{map[string]any{"manager": "x", "operation": "Update",
			"fieldsType": "FieldsV1", "fieldsV1": map[string]any{"f:status": map[string]any{"f:conditions": map[string]any{}}}}}
		items = append(items, c.Object)
	}
	data, err := json.Marshal(map[string]any{"apiVersion": pubsubV1, "kind": "TopicList", "metadata": map[string]any{"resourceVersion": "12"}, "items": items})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decoded(t *testing.T, data []byte) []*Row {
	t.Helper()
	rows, err := decodeList(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decoding: %v\n%s", err, data)
	}
	return rows
}

func write(t *testing.T, r *Report, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf, WriteOptions{Format: format, Width: 100}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A report of rows decoded from a list answer is the report of the same
// objects read whole, byte for byte: the golden files of those.
func TestDecodedListAsGolden(t *testing.T) {
	sources, objects := scenario()
	rows := decoded(t, listBody(t, objects))
	for _, row := range rows {
		if row.Object() != nil {
			t.Errorf("%s/%s was read as maps, not straight from the bytes", row.GetKind(), row.GetName())
		}
	}
	r := BuildSnapshot(Snapshot{Now: now, Sources: sources, Rows: rows})
	r.Namespace = ns
	golden(t, "status.table.golden", write(t, r, "table"))
	golden(t, "status.json.golden", write(t, r, "json"))

	sources, objects = instanceScenario()
	r = BuildSnapshot(Snapshot{Now: now, Kinds: blueprintKinds, Sources: sources, Rows: decoded(t, listBody(t, objects))})
	r.Namespace = ns
	golden(t, "status-instances.table.golden", write(t, r, "table"))
}

// Items without apiVersion and kind take the list's, which the server
// writes after the items.
func TestDecodedListKindAfterItems(t *testing.T) {
	data := []byte(`{"items":[{"metadata":{"name":"a","namespace":"shop"}}],"apiVersion":"pubsub.infraplane.dev/v1alpha1","kind":"TopicList","metadata":{}}`)
	rows := decoded(t, data)
	if len(rows) != 1 || rows[0].GetKind() != "Topic" || rows[0].GroupVersionKind().Group != "pubsub.infraplane.dev" || rows[0].GetName() != "a" {
		t.Fatalf("rows %+v", rows)
	}
}

// A body that is not a list answer is an error naming the kind, not an
// empty report.
func TestDecodedListNotAList(t *testing.T) {
	for _, body := range []string{`<html>`, `{"items":[5]}`, `{"items":{}}`, `{"kind":"TopicList","items":[]}{}`, ``} {
		raw := func(context.Context, string, url.Values) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(body)), nil
		}
		_, err := listRaw(context.Background(), raw, Kind{Group: "pubsub.infraplane.dev", Version: "v1alpha1", Kind: "Topic", Plural: "topics"}, "")
		if err == nil || !strings.Contains(err.Error(), "decoding the list of topics") {
			t.Errorf("body %q: err %v, want one naming the list of topics", body, err)
		}
	}
}

// Objects are written by other teams, and a kind a Blueprint defines may
// type its status loosely: an item of an odd shape shows as it did when
// lists were read as maps (leanList), and never fails the list. Each
// case is one item beside a healthy Topic.
func TestDecodedListOddShapes(t *testing.T) {
	huge := strings.Repeat("quota exceeded; ", 1<<16) // 1 MiB
	meta := `"metadata":{"name":"odd","namespace":"shop","uid":"u1","creationTimestamp":"2026-03-01T11:00:00Z"`
	cond := func(fields string) string {
		return `{"type":"Ready","reason":"R","lastTransitionTime":"2026-03-01T11:57:00Z",` + fields + `}`
	}
	cases := map[string]string{
		"condition status a number":        `"status":{"conditions":[` + cond(`"status":5`) + `]}`,
		"condition status null":            `"status":{"conditions":[` + cond(`"status":null,"message":null`) + `]}`,
		"conditions an object":             `"status":{"conditions":{"type":"Ready","status":"False"}}`,
		"condition a string":               `"status":{"conditions":["Ready"]}`,
		"time not RFC 3339":                `"status":{"conditions":[{"type":"Ready","status":"False","reason":"R","lastTransitionTime":"yesterday"}]}`,
		"time missing":                     `"status":{"conditions":[{"type":"Ready","status":"False","reason":"R"}]}`,
		"observedGeneration a fraction":    `"status":{"conditions":[` + cond(`"status":"False","observedGeneration":1.5`) + `]}`,
		"status a string":                  `"status":"Ready"`,
		"status null, spec null":           `"status":null,"spec":null`,
		"spec a list":                      `"spec":[1,2],"status":{"conditions":[` + cond(`"status":"True"`) + `]}`,
		"reference name a number":          `"spec":{"topicRef":{"name":7}},"status":{"conditions":[` + cond(`"status":"False","reason":"WaitingForReference"`) + `]}`,
		"a reference":                      `"spec":{"topicRef":{"name":"fine"}},"status":{"conditions":[` + cond(`"status":"False","reason":"WaitingForReference"`) + `]}`,
		"a reference in lower case":        `"spec":{"deadlettertopicref":{"name":"fine"}},"status":{"conditions":[` + cond(`"status":"True"`) + `]}`,
		"a reference spelled with escapes": `"spec":{"topic\u0052ef":{"name":"fine"}},"status":{"conditions":[` + cond(`"status":"True"`) + `]}`,
		"no reference, a value ending ref": `"spec":{"labels":{"a":"myref"}},"status":{"conditions":[` + cond(`"status":"True"`) + `]}`,
		"drift a string":                   `"status":{"drift":"everything","conditions":[` + cond(`"status":"True"`) + `]}`,
		"duplicate keys":                   `"status":{"conditions":[` + cond(`"status":"True","status":"False"`) + `]}`,
		"keys in another case":             `"status":{"Conditions":[` + cond(`"status":"False"`) + `]}`,
		"huge message":                     `"status":{"conditions":[` + cond(`"status":"False","message":"`+huge+`"`) + `]}`,
		"instance revision a string":       `"status":{"revision":"3","conditions":[` + cond(`"status":"True"`) + `]}`,
		"instance resource odd":            `"status":{"resources":[{"id":"topic","kind":"Topic","name":"t","ready":"yes"},{"id":7}],"conditions":[` + cond(`"status":"False","reason":"ResourceNotReady","message":"resource topic (Topic t): waiting"`) + `]}`,
		"instance resources not a list":    `"status":{"resources":{"id":"topic"},"conditions":[` + cond(`"status":"True"`) + `]}`,
		"deletionTimestamp not RFC 3339":   `"status":{"conditions":[` + cond(`"status":"True"`) + `]}`,
		"unknown fields, deeply nested":    `"spec":{"a":{"b":{"c":{"d":{"e":[{"f":{"g":"h"}}]}}}}},"status":{"x":{"y":[1,{"z":null}]},"conditions":[` + cond(`"status":"True"`) + `]}`,
	}
	for name, rest := range cases {
		t.Run(name, func(t *testing.T) {
			m := meta
			if name == "deletionTimestamp not RFC 3339" {
				m += `,"deletionTimestamp":"soon"`
			}
			for _, kind := range []string{`"apiVersion":"pubsub.infraplane.dev/v1alpha1","kind":"Topic"`, `"apiVersion":"platform.example.com/v1","kind":"Queue"`} {
				item := `{` + kind + `,` + m + `},` + rest + `}`
				healthy := `{"apiVersion":"pubsub.infraplane.dev/v1alpha1","kind":"Topic","metadata":{"name":"fine","namespace":"shop","creationTimestamp":"2026-03-01T11:00:00Z"},` +
					`"status":{"conditions":[` + cond(`"status":"True"`) + `]}}`
				body := []byte(`{"apiVersion":"v1","kind":"List","items":[` + item + `,` + healthy + `]}`)
				rows, err := decodeList(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("%s: the list failed: %v", kind, err)
				}
				// As before: the same items read as maps.
				var lean leanList
				if err := lean.UnmarshalJSON(body); err != nil {
					t.Fatal(err)
				}
				var whole []*unstructured.Unstructured
				for i := range lean.Items {
					whole = append(whole, &lean.Items[i])
				}
				kinds := []Kind{{Group: "platform.example.com", Version: "v1", Kind: "Queue", Plural: "queues", Namespaced: true, Blueprint: "queue"}}
				got := BuildSnapshot(Snapshot{Now: now, Kinds: kinds, Rows: rows})
				want := BuildSnapshot(Snapshot{Now: now, Kinds: kinds, Objects: whole})
				for _, format := range []string{"json", "table"} {
					if g, w := write(t, got, format), write(t, want, format); !bytes.Equal(g, w) {
						t.Errorf("%s, %s differs from the item read as maps:\n--- decoded\n%.3000s\n--- as maps\n%.3000s", kind, format, g, w)
					}
				}
				if got.Summary.Objects != 2 {
					t.Errorf("%s: %d objects in the summary, want 2", kind, got.Summary.Objects)
				}
				if name == "huge message" && !bytes.Contains(write(t, got, "json"), []byte(`"message": "`+huge+`"`)) {
					t.Errorf("%s: the JSON report lacks the whole message", kind)
				}
			}
		})
	}
}
