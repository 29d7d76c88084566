package blueprint

import (
	"strings"
	"testing"
)

// Templates of infraplane's kinds are checked against the kind's schema
// when the Blueprint is applied.
func TestCompileChecksTemplatesAgainstTheChildSchema(t *testing.T) {
	for name, tc := range map[string]struct {
		extra string
		want  []string // "" means it compiles
	}{
		"valid": {extra: `
  topicRef: {name: "${metadata.name}"}
  ackDeadlineSeconds: ${spec.retentionDays}
  messageRetentionDuration: "${spec.retentionDays * 24}h"
  labels: {team: "${spec.team}"}
`},
		"misspelled field": {extra: `
  topicRef: {name: x}
  ackDeadlineSecond: 10
`, want: []string{`spec.resources[sub].template.spec.ackDeadlineSecond: unknown field "ackDeadlineSecond": Subscription has no such field here (it has `, "ackDeadlineSeconds"}},
		"nested unknown field": {extra: `
  topicRef: {nam: x}
`, want: []string{`template.spec.topicRef.nam: unknown field "nam"`}},
		"literal of the wrong type": {extra: `
  topicRef: {name: x}
  ackDeadlineSeconds: "ten"
`, want: []string{"template.spec.ackDeadlineSeconds: is ten, but Subscription wants an integer"}},
		"expression of the wrong type": {extra: `
  topicRef: {name: x}
  ackDeadlineSeconds: ${spec.team}
`, want: []string{"template.spec.ackDeadlineSeconds: expression ${spec.team}: gives a string, but Subscription wants an integer"}},
		"interpolation into an integer": {extra: `
  topicRef: {name: x}
  ackDeadlineSeconds: "${spec.retentionDays}0"
`, want: []string{"template.spec.ackDeadlineSeconds", "gives a string, but Subscription wants an integer"}},
		"map value type": {extra: `
  topicRef: {name: x}
  labels: {team: 5}
`, want: []string{"template.spec.labels[team]: is 5, but Subscription wants a string"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(blueprint(t, res(t, "sub", subscription("s", tc.extra))))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("compiled; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}
