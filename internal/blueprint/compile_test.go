package blueprint

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

const queueSchema = `
type: object
properties:
  retentionDays: {type: integer, default: 7}
  maxDeliveryAttempts: {type: integer, default: 5}
  team: {type: string}
`

// blueprint builds a Blueprint from YAML resource templates (id: template).
func blueprint(t *testing.T, resources ...corev1alpha1.BlueprintResource) *corev1alpha1.Blueprint {
	t.Helper()
	schemaJSON, err := yaml.YAMLToJSON([]byte(queueSchema))
	if err != nil {
		t.Fatal(err)
	}
	return &corev1alpha1.Blueprint{Spec: corev1alpha1.BlueprintSpec{
		Group: "platform.example.com", Version: "v1alpha1", Kind: "Queue",
		Schema:    runtime.RawExtension{Raw: schemaJSON},
		Resources: resources,
	}}
}

func res(t *testing.T, id, tmpl string) corev1alpha1.BlueprintResource {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte(tmpl))
	if err != nil {
		t.Fatal(err)
	}
	return corev1alpha1.BlueprintResource{ID: id, Template: runtime.RawExtension{Raw: raw}}
}

func topic(name string) string {
	return "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: " + name + "\n"
}

func subscription(name, extra string) string {
	return "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Subscription\nmetadata:\n  name: " + name + "\nspec:\n" + extra
}

func ids(rs []*Resource) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

func TestCompileOrdersByReferences(t *testing.T) {
	bp := blueprint(t,
		res(t, "sub", subscription("${metadata.name}", `
  topicRef: {name: "${resources.topic.metadata.name}"}
  ackDeadlineSeconds: ${spec.maxDeliveryAttempts * 10}
  deadLetterPolicy:
    deadLetterTopicRef: {name: "${resources.dlq.metadata.name}"}
    maxDeliveryAttempts: ${spec.maxDeliveryAttempts}
`)),
		res(t, "topic", topic("${metadata.name}")),
		res(t, "dlq", topic("${metadata.name}-dlq")),
	)
	c, err := Compile(bp)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(c.Resources); got != "topic,dlq,sub" {
		t.Errorf("order %s, want topic,dlq,sub", got)
	}
	if got := strings.Join(c.Resource("sub").DependsOn, ","); got != "dlq,topic" {
		t.Errorf("sub depends on %s", got)
	}
	if got := strings.Join(c.Dependents("dlq"), ","); got != "sub" {
		t.Errorf("dependents of dlq: %s", got)
	}

	inst := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "orders", "namespace": "team-a"},
		"spec":     map[string]any{"retentionDays": int64(7), "maxDeliveryAttempts": int64(5)},
	}}
	in := Instance{Object: inst, Resources: map[string]map[string]any{}}
	for _, r := range c.Resources[:2] {
		u, err := c.Render(r, in)
		if err != nil {
			t.Fatal(err)
		}
		in.Resources[r.ID] = u.Object
	}
	u, err := c.Render(c.Resource("sub"), in)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(u.Object)
	want := `{"apiVersion":"pubsub.infraplane.dev/v1alpha1","kind":"Subscription","metadata":{"name":"orders","namespace":"team-a"},"spec":{"ackDeadlineSeconds":50,"deadLetterPolicy":{"deadLetterTopicRef":{"name":"orders-dlq"},"maxDeliveryAttempts":5},"topicRef":{"name":"orders"}}}`
	if string(got) != want {
		t.Errorf("rendered\n%s\nwant\n%s", got, want)
	}
}

func TestCompileTypeErrorsNameFieldAndExpression(t *testing.T) {
	bp := blueprint(t,
		res(t, "topic", topic("${metadata.name}")+`spec:
  messageRetentionDuration: "${string(spec.retentonDays * 24)}h"
  labels:
    team: "${spec.team + 1}"
`),
		res(t, "sub", subscription("${metadata.name}", `
  topicRef: {name: "${resources.topc.metadata.name}"}
`)),
	)
	_, err := Compile(bp)
	if err == nil {
		t.Fatal("compiled")
	}
	es, ok := err.(Errors)
	if !ok || len(es) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for i, want := range []struct{ res, field, expr, msg string }{
		{"topic", "spec.resources[topic].template.spec.labels.team", "spec.team + 1", "no matching overload"},
		{"topic", "spec.resources[topic].template.spec.messageRetentionDuration", "string(spec.retentonDays * 24)", "undefined field 'retentonDays'"},
		{"sub", "spec.resources[sub].template.spec.topicRef.name", "resources.topc.metadata.name", "undefined field 'topc'"},
	} {
		e := es[i]
		if e.Resource != want.res || e.Field != want.field || e.Expression != want.expr || !strings.Contains(e.Message, want.msg) || !strings.Contains(e.Message, "column ") {
			t.Errorf("error %d: %+v, want %+v", i, e, want)
		}
	}
	if !strings.Contains(err.Error(), "spec.resources[topic].template.spec.messageRetentionDuration: expression ${string(spec.retentonDays * 24)}: column") {
		t.Errorf("message: %v", err)
	}
}

func TestCompileCycle(t *testing.T) {
	bp := blueprint(t,
		res(t, "a", topic("${resources.c.metadata.name}-a")),
		res(t, "b", topic("${resources.a.metadata.name}-b")),
		res(t, "c", topic("${resources.b.metadata.name}-c")),
		res(t, "d", topic("d")),
	)
	_, err := Compile(bp)
	if err == nil || !strings.Contains(err.Error(), "cycle: a → c → b → a") {
		t.Fatalf("got %v", err)
	}
	bp = blueprint(t, res(t, "a", topic("${resources.a.metadata.name}")))
	if _, err := Compile(bp); err == nil || !strings.Contains(err.Error(), "refers to itself") {
		t.Fatalf("self reference: %v", err)
	}
}

func TestCompileTemplateShape(t *testing.T) {
	for name, tc := range map[string]struct {
		tmpl, want string
	}{
		"no kind":          {"apiVersion: v1\nmetadata: {name: x}", "apiVersion and kind are required"},
		"no name":          {"apiVersion: v1\nkind: ConfigMap", "metadata.name: required"},
		"namespace":        {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: y}", "must not be set"},
		"unterminated":     {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '${metadata.name'}", "unterminated expression"},
		"list in a string": {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 'x-${[1]}'}", "inside a string"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(blueprint(t, res(t, "r", tc.tmpl)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCompileIncludeAndReadyWhen(t *testing.T) {
	r := res(t, "t", topic("${metadata.name}"))
	r.IncludeWhen = []string{"${spec.retentionDays > 3}"}
	r.ReadyWhen = []string{"self.status.observed.state == 'ACTIVE'"}
	c, err := Compile(blueprint(t, r))
	if err != nil {
		t.Fatal(err)
	}
	inst := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "q", "namespace": "n"},
		"spec":     map[string]any{"retentionDays": int64(2)},
	}}
	if ok, err := c.Include(c.Resources[0], Instance{Object: inst}); err != nil || ok {
		t.Errorf("include with 2 days: %v %v", ok, err)
	}
	child := map[string]any{"status": map[string]any{"observed": map[string]any{"state": "ACTIVE"}}}
	if ok, _, err := c.Ready(c.Resources[0], Instance{Object: inst}, child); err != nil || !ok {
		t.Errorf("ready: %v %v", ok, err)
	}

	r.IncludeWhen = []string{"spec.retentionDays"}
	r.ReadyWhen = []string{"resources.t.ready"}
	_, err = Compile(blueprint(t, r))
	if err == nil || !strings.Contains(err.Error(), "includeWhen[0]: expression ${spec.retentionDays}: must be a bool") ||
		!strings.Contains(err.Error(), "readyWhen[0]: expression ${resources.t.ready}: column 1: undeclared reference to 'resources'") {
		t.Errorf("got %v", err)
	}
}

func TestSplitExpressions(t *testing.T) {
	segs, err := splitExpressions(`a-${ {"x": "}"}["x"] }-${metadata.name}`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range segs {
		if s.isExpr {
			got = append(got, "{"+s.text+"}")
		} else {
			got = append(got, s.text)
		}
	}
	if strings.Join(got, "|") != `a-|{{"x": "}"}["x"]}|-|{metadata.name}` {
		t.Errorf("got %q", got)
	}
}

// The Kubernetes CEL libraries are there, as in validation rules.
func TestKubernetesLibraries(t *testing.T) {
	c, err := Compile(blueprint(t, res(t, "t", topic(`${url("https://example.com/x").getHost()}-${[1, 2].isSorted()}-${quantity("1Gi").isGreaterThan(quantity("1Mi"))}`))))
	if err != nil {
		t.Fatal(err)
	}
	inst := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "q", "namespace": "n"}}}
	u, err := c.Render(c.Resources[0], Instance{Object: inst})
	if err != nil {
		t.Fatal(err)
	}
	if u.GetName() != "example.com-true-true" {
		t.Errorf("name %q", u.GetName())
	}
}

// resources.<id> of infraplane's own kinds is typed by the kind's schema.
func TestCompileTypesOtherResources(t *testing.T) {
	good := res(t, "sub", subscription("${resources.topic.metadata.name}-${resources.topic.metadata.namespace}", `
  topicRef: {name: "${resources.topic.status.resourceID}"}
  labels: "${resources.topic.spec.labels}"
`))
	c, err := Compile(blueprint(t, res(t, "topic", topic("${metadata.name}")), good))
	if err != nil {
		t.Fatal(err)
	}
	inst := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "q", "namespace": "n"}}}
	in := Instance{Object: inst, Resources: map[string]map[string]any{"topic": {
		"metadata": map[string]any{"name": "q", "namespace": "n"},
		"spec":     map[string]any{"labels": map[string]any{"team": "a"}},
		"status":   map[string]any{"resourceID": "q-id"},
	}}}
	u, err := c.Render(c.Resource("sub"), in)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(u.Object["spec"])
	if u.GetName() != "q-n" || string(got) != `{"labels":{"team":"a"},"topicRef":{"name":"q-id"}}` {
		t.Errorf("rendered %s %s", u.GetName(), got)
	}

	bad := res(t, "sub", subscription("x", `
  topicRef: {name: "${resources.topic.status.resourceId}"}
`))
	_, err = Compile(blueprint(t, res(t, "topic", topic("${metadata.name}")), bad))
	if err == nil || !strings.Contains(err.Error(), "undefined field 'resourceId'") {
		t.Errorf("got %v", err)
	}
	// Kinds infraplane does not know stay dyn.
	cm := res(t, "cm", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}")
	if _, err := Compile(blueprint(t, cm, res(t, "t", topic("${resources.cm.data.anything}")))); err != nil {
		t.Errorf("dyn: %v", err)
	}
}
