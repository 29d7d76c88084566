package breakglass_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A dry run changes nothing, so the ledger never records it as a direct
// edit — however the client asks for it: the dryRun query parameter on
// every verb (also percent-encoded, which the API server decodes), and
// DeleteOptions in the body of a delete or a deletecollection. Each is
// checked to have been a real dry run (the object is unchanged) and the
// one real write that follows is recorded.
func TestDryRunsAreNotRecorded(t *testing.T) {
	ctx := context.Background()
	newPeople(t)
	ns := env.Namespace(t, "none") // no cloud: only the API matters here
	cfg, err := env.ControlPlane().IdentityRESTConfig(oncallUser, []string{"oncall"})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("%s/apis/pubsub.infraplane.dev/v1alpha1/namespaces/%s/topics", strings.TrimSuffix(cfg.Host, "/"), ns)
	do := func(method, path, contentType, body string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
	}
	topic := func(name string) string {
		return fmt.Sprintf(`{"apiVersion":"pubsub.infraplane.dev/v1alpha1","kind":"Topic","metadata":{"name":%q,"namespace":%q},"spec":{"labels":{"team":"a"}}}`, name, ns)
	}
	// The objects dry runs are tried on.
	do(http.MethodPost, "", "application/json", topic("orders"))
	do(http.MethodPost, "", "application/json", topic("audit"))
	// Wait for the two creates' entries, so that what follows is counted
	// from a known point.
	edits := func() []ledger.Entry {
		t.Helper()
		entries, err := ledger.Read(env.LedgerPath(), ledger.Filter{Type: ledger.TypeDirectEdit, Actor: oncallUser})
		if err != nil {
			t.Fatal(err)
		}
		var mine []ledger.Entry
		for _, e := range entries {
			if strings.HasPrefix(e.Object, "Topic "+ns+"/") {
				mine = append(mine, e)
			}
		}
		return mine
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := len(edits()); n != 2 {
			return fmt.Errorf("%d entries, want the 2 creates", n)
		}
		return nil
	})

	forms := []struct{ name, method, path, contentType, body string }{
		{"create ?dryRun=All", http.MethodPost, "?dryRun=All", "application/json", topic("ghost")},
		{"create, encoded name", http.MethodPost, "?dry%52un=All", "application/json", topic("ghost")},
		{"update ?dryRun=All", http.MethodPut, "/orders?dryRun=All", "application/json", "current orders"},
		{"merge patch ?dryRun=All", http.MethodPatch, "/orders?dryRun=All", "application/merge-patch+json", `{"spec":{"labels":{"team":"b"}}}`},
		{"json patch ?dryRun=All", http.MethodPatch, "/orders?dryRun=All", "application/json-patch+json", `[{"op":"replace","path":"/spec/labels/team","value":"b"}]`},
		{"apply ?dryRun=All", http.MethodPatch, "/orders?dryRun=All&fieldManager=kubectl&force=true", "application/apply-patch+yaml", topic("orders")},
		{"delete ?dryRun=All", http.MethodDelete, "/orders?dryRun=All", "", ""},
		{"delete, encoded name", http.MethodDelete, "/orders?%64ryRun=All", "", ""},
		{"delete, DeleteOptions body", http.MethodDelete, "/orders", "application/json", `{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}`},
		{"delete, DeleteOptions body in YAML", http.MethodDelete, "/orders", "application/yaml", "kind: DeleteOptions\napiVersion: meta.k8s.io/v1\ndryRun: [All]\n"},
		{"deletecollection ?dryRun=All", http.MethodDelete, "?dryRun=All", "", ""},
		{"deletecollection, DeleteOptions body", http.MethodDelete, "", "application/json", `{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}`},
	}
	for _, f := range forms {
		if f.body == "current orders" { // an update names the version it replaces
			tp := &pubsubv1.Topic{}
			if err := env.Client.Get(ctx, key(ns, "orders"), tp); err != nil {
				t.Fatal(err)
			}
			f.body = strings.Replace(topic("orders"), `"namespace"`, fmt.Sprintf(`"resourceVersion":%q,"namespace"`, tp.ResourceVersion), 1)
		}
		do(f.method, f.path, f.contentType, f.body)
	}
	// They were dry runs: nothing changed.
	for _, n := range []string{"orders", "audit"} {
		tp := &pubsubv1.Topic{}
		if err := env.Client.Get(ctx, key(ns, n), tp); err != nil {
			t.Fatalf("%s after the dry runs: %v", n, err)
		}
		if tp.DeletionTimestamp != nil || tp.Spec.Labels["team"] != "a" {
			t.Fatalf("a dry run changed %s: %+v", n, tp)
		}
	}
	if err := env.Client.Get(ctx, key(ns, "ghost"), &pubsubv1.Topic{}); err == nil {
		t.Fatal("a dry-run create created the topic")
	}

	// One real write after them; once it is in the ledger, so would be
	// any dry run recorded before it (the API server reports requests in
	// the order they complete).
	do(http.MethodPatch, "/audit", "application/merge-patch+json", `{"spec":{"labels":{"team":"c"}}}`)
	var got []ledger.Entry
	testenv.Eventually(t, 10*time.Second, func() error {
		got = edits()
		if len(got) < 3 || !strings.Contains(got[len(got)-1].Object, "/audit") || got[len(got)-1].Details["verb"] != "patch" {
			return fmt.Errorf("the real patch is not recorded yet: %d entries", len(got))
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // the hook appends off the request path
	if got = edits(); len(got) != 3 {
		var b bytes.Buffer
		for _, e := range got {
			fmt.Fprintf(&b, "\n  %s %s %s %v", e.Object, e.Summary, e.Details["verb"], e.Details)
		}
		t.Fatalf("want the 2 creates and the real patch, got %d entries:%s", len(got), b.String())
	}

	// A real deletecollection is recorded too: one entry naming the
	// selector (it matches nothing here).
	do(http.MethodDelete, "?labelSelector=app%3Dnone", "", "")
	testenv.Eventually(t, 10*time.Second, func() error {
		got = edits()
		if last := got[len(got)-1]; last.Object != "Topic "+ns+"/*" || last.Summary != "deleted every object matching app=none" {
			return fmt.Errorf("the deletecollection is not recorded yet: last entry %s %q", last.Object, last.Summary)
		}
		return nil
	})
}

func key(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
