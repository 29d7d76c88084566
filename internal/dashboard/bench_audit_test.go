package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/ledger"
)

// BenchmarkAuditPage measures the audit page with a ledger of N entries
// (INFRAPLANE_DASHBOARD_BENCH_ENTRIES, default 10,000) in two namespaces:
// the ledger file read (what a changed file costs), the page as the admin
// and as a viewer of one namespace (the ledger cached), a filter that
// matches nothing (every entry looked at), and the page right after an
// entry was appended (only that entry read, then rendered).
//
//	go test ./internal/dashboard -run '^$' -bench AuditPage -benchtime 20x
func BenchmarkAuditPage(b *testing.B) {
	n := 10000
	if v := os.Getenv("INFRAPLANE_DASHBOARD_BENCH_ENTRIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	nsA, nsB := "bench-audit-a-"+suffix, "bench-audit-b-"+suffix
	for _, ns := range []string{nsA, nsB} {
		env.Create(b, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}

	path := filepath.Join(b.TempDir(), "ledger")
	l, err := ledger.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range 64 { // many at once: the ledger writes them in batches, one fsync each
		wg.Go(func() {
			for i := range work {
				if _, err := l.Append(context.Background(), benchEntry(i, nsA, nsB)); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	b.Cleanup(func() { l.Close() })

	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config(), Ledger: path})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	admin := benchLogin(b, srv, url.Values{"token": {adminToken}})
	viewer := benchLogin(b, srv, url.Values{"token": {benchViewerToken(b, nsA)}})
	get := func(b *testing.B, cookie, path string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Cookie", dashboard.CookieName+"="+cookie)
		resp, err := noRedirects.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d\n%s", path, resp.StatusCode, body)
		}
	}

	b.Run("read-file", func(b *testing.B) {
		for b.Loop() {
			if _, err := ledger.Read(path, ledger.Filter{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("admin", func(b *testing.B) {
		for b.Loop() {
			get(b, admin, "/audit")
		}
	})
	b.Run("viewer", func(b *testing.B) {
		for b.Loop() {
			get(b, viewer, "/audit")
		}
	})
	b.Run("viewer-no-match", func(b *testing.B) {
		q := "/audit?" + url.Values{"object": {"Topic " + nsB + "/t-1"}}.Encode()
		for b.Loop() {
			get(b, viewer, q)
		}
	})
	b.Run("admin-appended", func(b *testing.B) {
		i := n
		for b.Loop() {
			b.StopTimer()
			if _, err := l.Append(context.Background(), benchEntry(i, nsA, nsB)); err != nil {
				b.Fatal(err)
			}
			i++
			b.StartTimer()
			get(b, admin, "/audit")
		}
	})
}

// benchEntry is the i-th entry of the benchmark's ledger: mostly cloud
// writes, with syncs naming objects of both namespaces, direct edits and
// break-glass entries.
func benchEntry(i int, nsA, nsB string) ledger.Entry {
	ns := nsA
	if i%2 == 1 {
		ns = nsB
	}
	obj := fmt.Sprintf("t-%d", i%500)
	switch i % 10 {
	case 0:
		var objs []string
		for j := range 10 {
			o := []string{nsA, nsB}[j%2]
			objs = append(objs, fmt.Sprintf("configured Topic/%s/t-%d", o, (i+j)%500))
		}
		return ledger.Entry{Type: ledger.TypeSync, Actor: "syncer", Object: "GitSource " + ns + "/apps", Summary: "applied main@abc1234: 0 created, 10 configured, 0 pruned",
			Revision: fmt.Sprintf("main@sha1:%040x", i), Author: "Ada <ada@example.com>", Objects: objs}
	case 1:
		return ledger.Entry{Type: ledger.TypeDirectEdit, Actor: "alice", Object: ledger.ObjectRef("Topic", ns, obj), Summary: "patched spec.labels",
			Fields: []string{"spec.labels"}, BreakGlass: ns + "/incident", Details: map[string]string{"verb": "patch", "userAgent": "kubectl/v1.34"}}
	case 2:
		return ledger.Entry{Type: ledger.TypeBreakGlassOpen, Actor: "bob", Object: "BreakGlass " + ns + "/incident", BreakGlass: ns + "/incident",
			Summary: "opened for 1h on Topic/" + obj, Reason: "orders are stuck", Objects: []string{"Topic/" + obj}}
	}
	return ledger.Entry{Type: ledger.TypeCloudWrite, Actor: "controller/Topic", Object: ledger.ObjectRef("Topic", ns, obj),
		Summary: "updated labels of projects/p/topics/" + obj, Fields: []string{"labels"},
		Details: map[string]string{"operation": "update", "cause": "spec-change", "resource": "projects/p/topics/" + obj}}
}

func benchLogin(b *testing.B, srv *httptest.Server, form url.Values) string {
	b.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := noRedirects.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == dashboard.CookieName {
				return c.Value
			}
		}
		// The token authenticator may not have seen a new ServiceAccount yet.
		if time.Now().After(deadline) {
			b.Fatalf("login: %d", resp.StatusCode)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// benchViewerToken is a token of a ServiceAccount bound to
// infraplane-viewer in ns.
func benchViewerToken(b *testing.B, ns string) string {
	kube, err := kubernetes.NewForConfig(env.Config())
	if err != nil {
		b.Fatal(err)
	}
	env.Create(b, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}})
	env.Create(b, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "infraplane-viewer"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "viewer"}},
	})
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), "viewer", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return tr.Status.Token
}
