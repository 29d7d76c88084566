package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
)

// Each ProviderConfig has its own cloud identity (docs/cloud-identity.md).
// The IAM Credentials API has no emulator: iam is an in-process stand-in
// for its generateAccessToken, which the controllers of this test binary
// call (TestMain points them at it, without credentials of their own). A
// recording reverse proxy in front of the local Cloud Storage shows which
// token each request carried.

// iam is the stand-in, started in TestMain.
var iam *iamStandIn

// deniedAccount is refused by the stand-in, like IAM refuses a controller
// without roles/iam.serviceAccountTokenCreator on the account.
const deniedAccount = "denied@p.iam.gserviceaccount.com"

type iamStandIn struct {
	*httptest.Server
	mu    sync.Mutex
	asked map[string]int // generateAccessToken calls by account
}

func startIAMStandIn() *iamStandIn {
	s := &iamStandIn{asked: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const prefix, suffix = "/v1/projects/-/serviceAccounts/", ":generateAccessToken"
		p, _ := url.PathUnescape(r.URL.EscapedPath())
		if r.Method != http.MethodPost || !strings.HasPrefix(p, prefix) || !strings.HasSuffix(p, suffix) {
			http.Error(w, "unexpected "+r.Method+" "+p, http.StatusNotFound)
			return
		}
		email := strings.TrimSuffix(strings.TrimPrefix(p, prefix), suffix)
		s.mu.Lock()
		s.asked[email]++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if email == deniedAccount {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error": {"code": 403, "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).", "status": "PERMISSION_DENIED"}}`)
			return
		}
		fmt.Fprintf(w, `{"accessToken": %q, "expireTime": %q}`, "token-for-"+email, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	return s
}

func (s *iamStandIn) askedFor(account string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[account]
}

// recordingProxy forwards to the local Cloud Storage and records, per
// request, the bucket it was about and its Authorization header.
type recordingProxy struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []proxied
}

type proxied struct{ bucket, method, path, auth string }

func newRecordingProxy(t *testing.T) *recordingProxy {
	t.Helper()
	target, err := url.Parse(cloud.cloud.Endpoints().Storage)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	p := &recordingProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := proxied{bucket: bucketOf(r), method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization")}
		p.mu.Lock()
		p.reqs = append(p.reqs, rec)
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// bucketOf is the bucket a JSON API request is about: in the path
// (/b/<name>/…), or, for buckets.insert, in the body.
func bucketOf(r *http.Request) string {
	if _, rest, ok := strings.Cut(r.URL.Path, "/b/"); ok {
		name, _, _ := strings.Cut(rest, "/")
		return name
	}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/b") && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var b struct{ Name string }
		_ = json.Unmarshal(body, &b)
		return b.Name
	}
	return ""
}

func (p *recordingProxy) requests() []proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proxied(nil), p.reqs...)
}

// endpoint is the proxy as a ProviderConfig's storage endpoint.
func (p *recordingProxy) endpoint() string { return p.URL + "/storage/v1/" }

// identityProviderConfig creates a ProviderConfig with credentials creds
// whose Cloud Storage endpoint is the proxy.
func identityProviderConfig(t *testing.T, name string, creds corev1alpha1.Credentials, p *recordingProxy) string {
	t.Helper()
	pc := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   cloud.cloud.Project(),
			Credentials: creds,
			Endpoints:   corev1alpha1.Endpoints{Storage: p.endpoint()},
		},
	}
	pc.SetGroupVersionKind(corev1alpha1.GroupVersion.WithKind("ProviderConfig"))
	//nolint:staticcheck // typed server-side apply
	if err := env.Client.Patch(context.Background(), pc, client.Apply, client.FieldOwner("identity-test"), client.ForceOwnership); err != nil {
		t.Fatalf("apply ProviderConfig: %v", err)
	}
	return name
}

func impersonate(account string) corev1alpha1.Credentials {
	return corev1alpha1.Credentials{Source: corev1alpha1.CredentialsImpersonate, ServiceAccount: account}
}

// Two teams, each with a ProviderConfig impersonating its own service
// account: every request about a team's bucket, from create to delete,
// carries that team's token and never the other's, and the stand-in was
// asked for each account.
func TestEachProviderConfigCallsWithItsOwnIdentity(t *testing.T) {
	cloud.start(t)
	proxy := newRecordingProxy(t)
	accounts := map[string]string{"a": "team-a@p.iam.gserviceaccount.com", "b": "team-b@p.iam.gserviceaccount.com"}
	buckets := map[string]*storagev1.Bucket{}
	for team, account := range accounts {
		ns := env.Namespace(t, identityProviderConfig(t, "identity-team-"+team, impersonate(account), proxy))
		buckets[team] = &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: ns + "-data", Namespace: ns}}
		env.Create(t, buckets[team])
	}
	for _, b := range buckets {
		env.WaitReady(t, b)
		if _, err := cloud.gcs.Bucket(b.Name).Attrs(context.Background()); err != nil {
			t.Fatalf("bucket %s not in the cloud: %v", b.Name, err)
		}
	}
	for _, b := range buckets {
		if err := env.Client.Delete(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range buckets {
		env.WaitGone(t, b)
		if _, err := cloud.gcs.Bucket(b.Name).Attrs(context.Background()); !errors.Is(err, gcs.ErrBucketNotExist) {
			t.Errorf("bucket %s still in the cloud: %v", b.Name, err)
		}
	}

	reqs := proxy.requests()
	for team, account := range accounts {
		want := "Bearer token-for-" + account
		var n int
		for _, r := range reqs {
			if r.bucket != buckets[team].Name {
				continue
			}
			n++
			if r.auth != want {
				t.Errorf("team %s: %s %s carried %q, want %q", team, r.method, r.path, r.auth, want)
			}
		}
		t.Logf("team %s: %d requests, all with its own token", team, n)
		if n < 2 { // at least the insert and the delete
			t.Errorf("team %s: %d requests for its bucket reached the cloud", team, n)
		}
		if iam.askedFor(account) == 0 {
			t.Errorf("generateAccessToken never asked for %s", account)
		}
	}
	for _, r := range reqs {
		if !strings.HasPrefix(r.auth, "Bearer token-for-team-") {
			t.Errorf("%s %s (bucket %q) carried %q", r.method, r.path, r.bucket, r.auth)
		}
	}
}

// A ProviderConfig impersonating an account IAM refuses: the Bucket's
// Synced condition names the ProviderConfig and the account, and nothing
// reached the cloud, neither without a token nor with the controller's.
func TestRefusedIdentityNeverFallsBack(t *testing.T) {
	cloud.start(t)
	proxy := newRecordingProxy(t)
	ns := env.Namespace(t, identityProviderConfig(t, "identity-denied", impersonate(deniedAccount), proxy))
	b := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: ns + "-refused", Namespace: ns}}
	env.Create(t, b)
	c := env.WaitForMessage(t, b, commonv1.TypeSynced, deniedAccount)
	t.Logf("Synced: %s", c.Message)
	for _, s := range []string{`ProviderConfig "identity-denied"`, "PermissionDenied", "roles/iam.serviceAccountTokenCreator", "nothing was sent"} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("condition should say %q: %s", s, c.Message)
		}
	}
	if c.Status != metav1.ConditionFalse {
		t.Errorf("Synced is %s", c.Status)
	}
	if iam.askedFor(deniedAccount) == 0 {
		t.Error("the stand-in was never asked for the account")
	}
	if reqs := proxy.requests(); len(reqs) != 0 {
		t.Errorf("requests reached the cloud: %+v", reqs)
	}
	if _, err := cloud.gcs.Bucket(b.Name).Attrs(context.Background()); !errors.Is(err, gcs.ErrBucketNotExist) {
		t.Errorf("the bucket was created after all: %v", err)
	}
}

// A SecretKey ProviderConfig whose Secret does not exist: the condition
// says which Secret, and no call is made.
func TestSecretKeyMissingSecret(t *testing.T) {
	cloud.start(t)
	proxy := newRecordingProxy(t)
	creds := corev1alpha1.Credentials{Source: corev1alpha1.CredentialsSecretKey, SecretRef: &corev1alpha1.SecretReference{Namespace: "default", Name: "no-such-key"}}
	ns := env.Namespace(t, identityProviderConfig(t, "identity-secret-missing", creds, proxy))
	b := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: ns + "-keyless", Namespace: ns}}
	env.Create(t, b)
	c := env.WaitForMessage(t, b, commonv1.TypeSynced, "Secret default/no-such-key")
	t.Logf("Synced: %s", c.Message)
	for _, s := range []string{`ProviderConfig "identity-secret-missing"`, "does not exist", "Unauthenticated"} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("condition should say %q: %s", s, c.Message)
		}
	}
	if reqs := proxy.requests(); len(reqs) != 0 {
		t.Errorf("requests reached the cloud: %+v", reqs)
	}
}
