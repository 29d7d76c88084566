package backport

import (
	"strings"
	"testing"
)

// manifests has what people write by hand: comments, 4-space indentation,
// quoted strings, a block scalar, a flow mapping, a compact list, a blank
// line, and the same field in another document of the file.
const manifests = `# Subscriptions for the orders service.
apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
    name: orders
---
apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
    name: orders-worker   # the worker pool
    annotations:
        owner: "team-a"
        note: 'it''s fine'
spec:
    topicRef:
        name: orders
    # raise during incidents
    ackDeadlineSeconds: 10 # seconds
    retainAckedMessages: true
    filter: |
        attributes.type = "order"
    tags: {env: prod, tier: "1"}
    description: "émergence"
    regions:
    - europe-west1
    - us-east1

    messageRetentionDuration: 600s
---
# the audit copy
apiVersion: pubsub.infraplane.dev/v1
kind: Subscription
metadata:
  name: orders-audit
  labels:
spec:
  ackDeadlineSeconds: 10
`

var worker = objectID{"pubsub.infraplane.dev", "Subscription", "orders-worker"}
var audit = objectID{"pubsub.infraplane.dev", "Subscription", "orders-audit"}

type edit struct {
	id     objectID
	path   string // dotted; no dots inside keys in these cases
	value  any
	remove bool
}

func TestSetFieldPreservesBytes(t *testing.T) {
	cases := []struct {
		name     string
		edits    []edit
		old, new string // the only text that may change
	}{
		{"scalar keeps its comment; same field in another document untouched",
			[]edit{{id: worker, path: "spec.ackDeadlineSeconds", value: float64(60)}},
			"    ackDeadlineSeconds: 10 # seconds\n", "    ackDeadlineSeconds: 60 # seconds\n"},
		{"double quotes kept",
			[]edit{{id: worker, path: "metadata.annotations.owner", value: "team-b"}},
			`owner: "team-a"`, `owner: "team-b"`},
		{"single quotes kept",
			[]edit{{id: worker, path: "metadata.annotations.note", value: "it's done"}},
			`note: 'it''s fine'`, `note: 'it''s done'`},
		{"non-ASCII before the value",
			[]edit{{id: worker, path: "spec.description", value: "émergé"}},
			`description: "émergence"`, `description: "émergé"`},
		{"string that looks like a number is quoted",
			[]edit{{id: worker, path: "spec.ackDeadlineSeconds", value: "30"}},
			"ackDeadlineSeconds: 10 #", `ackDeadlineSeconds: "30" #`},
		{"remove a field",
			[]edit{{id: worker, path: "spec.retainAckedMessages", remove: true}},
			"    retainAckedMessages: true\n", ""},
		{"remove a field with its comment",
			[]edit{{id: worker, path: "spec.ackDeadlineSeconds", remove: true}},
			"    # raise during incidents\n    ackDeadlineSeconds: 10 # seconds\n", ""},
		{"remove an absent field is a no-op",
			[]edit{{id: worker, path: "spec.nope.deeper", remove: true}},
			"", ""},
		{"removing the last key removes the emptied mapping",
			[]edit{{id: worker, path: "metadata.annotations.owner", remove: true}, {id: worker, path: "metadata.annotations.note", remove: true}},
			"    annotations:\n        owner: \"team-a\"\n        note: 'it''s fine'\n", ""},
		{"nested creation uses the document's indentation",
			[]edit{{id: worker, path: "metadata.labels.team", value: "orders"}},
			"        note: 'it''s fine'\n", "        note: 'it''s fine'\n    labels:\n        team: orders\n"},
		{"new field goes after the last one, past a compact list and a blank line",
			[]edit{{id: worker, path: "spec.deadLetterPolicy.maxDeliveryAttempts", value: int64(5)}},
			"    messageRetentionDuration: 600s\n", "    messageRetentionDuration: 600s\n    deadLetterPolicy:\n        maxDeliveryAttempts: 5\n"},
		{"scalar inside a flow mapping",
			[]edit{{id: worker, path: "spec.tags.env", value: "staging"}},
			`{env: prod, tier: "1"}`, `{env: staging, tier: "1"}`},
		{"new key in a flow mapping stays flow",
			[]edit{{id: worker, path: "spec.tags.team", value: "orders"}},
			`{env: prod, tier: "1"}`, `{env: prod, tier: "1", team: orders}`},
		{"block scalar replaced",
			[]edit{{id: worker, path: "spec.filter", value: "attributes.type = 'refund'"}},
			"    filter: |\n        attributes.type = \"order\"\n", "    filter: attributes.type = 'refund'\n"},
		{"list replaced, blank line after it kept",
			[]edit{{id: worker, path: "spec.regions", value: []any{"asia-east1"}}},
			"    regions:\n    - europe-west1\n    - us-east1\n", "    regions:\n        - asia-east1\n"},
		{"map value: keys set and dropped one by one",
			[]edit{{id: worker, path: "metadata.annotations", value: map[string]any{"owner": "team-b"}}},
			"        owner: \"team-a\"\n        note: 'it''s fine'\n", "        owner: \"team-b\"\n"},
		{"equal value is a no-op",
			[]edit{{id: worker, path: "spec.ackDeadlineSeconds", value: int64(10)}},
			"", ""},
		{"null mapping filled, other document with 2 spaces",
			[]edit{{id: audit, path: "metadata.labels.team", value: "audit"}},
			"  labels:\n", "  labels:\n    team: audit\n"},
		{"version is not part of the match",
			[]edit{{id: audit, path: "spec.ackDeadlineSeconds", value: int64(20)}},
			"  ackDeadlineSeconds: 10\n", "  ackDeadlineSeconds: 20\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := []byte(manifests)
			for _, e := range c.edits {
				var err error
				if got, err = setField(got, e.id, strings.Split(e.path, "."), e.value, e.remove); err != nil {
					t.Fatal(err)
				}
			}
			want := manifests
			if c.old != "" {
				if strings.Count(manifests, c.old) != 1 {
					t.Fatalf("test case: %q is not unique in the manifests", c.old)
				}
				want = strings.Replace(manifests, c.old, c.new, 1)
			}
			if string(got) != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestSetFieldLineEndings(t *testing.T) {
	crlf := "apiVersion: pubsub.infraplane.dev/v1alpha1\r\nkind: Subscription\r\nmetadata:\r\n  name: orders-worker\r\nspec:\r\n  ackDeadlineSeconds: 10\r\n"
	got, err := setField([]byte(crlf), worker, []string{"spec", "labels", "team"}, "orders", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := crlf + "  labels:\r\n    team: orders\r\n"; string(got) != want {
		t.Errorf("CRLF: got %q, want %q", got, want)
	}

	noEOL := "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Subscription\nmetadata:\n  name: orders-worker\nspec:\n  ackDeadlineSeconds: 10"
	got, err = setField([]byte(noEOL), worker, []string{"spec", "retainAckedMessages"}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := noEOL + "\n  retainAckedMessages: true\n"; string(got) != want {
		t.Errorf("no final newline: got %q, want %q", got, want)
	}
}

func TestSetFieldJSON(t *testing.T) {
	js := `{
  "apiVersion": "pubsub.infraplane.dev/v1alpha1",
  "kind": "Subscription",
  "metadata": {"name": "orders-worker"},
  "spec": {"ackDeadlineSeconds": 10, "filter": "a"}
}
`
	got, err := setField([]byte(js), worker, []string{"spec", "ackDeadlineSeconds"}, int64(60), false)
	if err != nil {
		t.Fatal(err)
	}
	got, err = setField(got, worker, []string{"spec", "filter"}, "b", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(js, `{"ackDeadlineSeconds": 10, "filter": "a"}`, `{"ackDeadlineSeconds": 60, "filter": "b"}`, 1); string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := setField([]byte(js), worker, []string{"spec", "labels"}, "x", false); err == nil || !strings.Contains(err.Error(), "edit it by hand") {
		t.Errorf("adding a field to JSON: got %v, want an error saying to edit by hand", err)
	}
}

func TestSetFieldNoDocument(t *testing.T) {
	_, err := setField([]byte(manifests), objectID{"pubsub.infraplane.dev", "Subscription", "nope"}, []string{"spec", "x"}, 1, false)
	if err == nil || !strings.Contains(err.Error(), "Subscription/nope") {
		t.Errorf("got %v, want an error naming Subscription/nope", err)
	}
}
