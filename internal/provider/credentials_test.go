package provider

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	gtransport "google.golang.org/api/transport/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/scheme"
)

// iamStandIn stands in for the IAM Credentials API's generateAccessToken
// (there is no emulator of it): it mints "token-for-<email>" for every
// account but those in refuse (403, like IAM without
// roles/iam.serviceAccountTokenCreator), and records who asked for what.
type iamStandIn struct {
	*httptest.Server
	refuse map[string]bool

	mu     sync.Mutex
	asked  []string // accounts, in order
	caller []string // the Authorization header each request came with
}

func newIAMStandIn(t *testing.T, refuse ...string) *iamStandIn {
	s := &iamStandIn{refuse: map[string]bool{}}
	for _, r := range refuse {
		s.refuse[r] = true
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *iamStandIn) serve(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/v1/projects/-/serviceAccounts/", ":generateAccessToken"
	p, _ := url.PathUnescape(r.URL.EscapedPath())
	if r.Method != http.MethodPost || !strings.HasPrefix(p, prefix) || !strings.HasSuffix(p, suffix) {
		http.Error(w, "unexpected "+r.Method+" "+p, http.StatusNotFound)
		return
	}
	email := strings.TrimSuffix(strings.TrimPrefix(p, prefix), suffix)
	var body struct {
		Scope []string `json:"scope"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	s.mu.Lock()
	s.asked = append(s.asked, email)
	s.caller = append(s.caller, r.Header.Get("Authorization"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if s.refuse[email] || len(body.Scope) == 0 {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"error": {"code": 403, "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).", "status": "PERMISSION_DENIED"}}`)
		return
	}
	fmt.Fprintf(w, `{"accessToken": %q, "expireTime": %q}`, "token-for-"+email, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

func (s *iamStandIn) askedFor() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// world is a fake Kubernetes API with ProviderConfigs and a namespace per
// ProviderConfig ("ns-<name>").
func world(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	b := fake.NewClientBuilder().WithScheme(scheme.New())
	for _, o := range objs {
		b = b.WithObjects(o)
		if pc, ok := o.(*corev1alpha1.ProviderConfig); ok {
			b = b.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name: "ns-" + pc.Name, Annotations: map[string]string{corev1alpha1.NamespaceAnnotation: pc.Name}}})
		}
	}
	return b.Build()
}

func impersonating(name, account string) *corev1alpha1.ProviderConfig {
	return &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1alpha1.ProviderConfigSpec{ProjectID: "project-" + name, Credentials: corev1alpha1.Credentials{
			Source: corev1alpha1.CredentialsImpersonate, ServiceAccount: account}},
	}
}

func withSecretKey(name, ns, secret string) *corev1alpha1.ProviderConfig {
	return &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1alpha1.ProviderConfigSpec{ProjectID: "project-" + name, Credentials: corev1alpha1.Credentials{
			Source: corev1alpha1.CredentialsSecretKey, SecretRef: &corev1alpha1.SecretReference{Namespace: ns, Name: secret}}},
	}
}

func resolve(t *testing.T, r *Resolver, pc string) *Config {
	t.Helper()
	c, err := r.ForNamespace(context.Background(), "ns-"+pc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorder is a cloud endpoint that records the Authorization header of
// every request.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.auth = append(rec.auth, r.Header.Get("Authorization"))
		rec.mu.Unlock()
		fmt.Fprint(w, "{}")
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) seen() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.auth...)
}

// get sends one request the way HTTP clients of c do (its transport).
func get(c *Config, endpoint string) error {
	rt := &tokenTransport{ts: c.identityTokens(), base: http.DefaultTransport}
	req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Each ProviderConfig's calls carry its own service account's token, minted
// by generateAccessToken called as the controller; a token is minted once
// and reused.
func TestImpersonationTokensPerProviderConfig(t *testing.T) {
	iam := newIAMStandIn(t)
	cl := world(t, impersonating("a", "team-a@p.iam.gserviceaccount.com"), impersonating("b", "team-b@p.iam.gserviceaccount.com"))
	r := NewResolver(cl, Options{
		IAMCredentialsEndpoint: iam.URL + "/",
		IAMCredentialsOptions:  []option.ClientOption{option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "controller-token"}))},
	})
	cloud := newRecorder(t)
	for range 3 {
		for _, pc := range []string{"a", "b"} {
			if err := get(resolve(t, r, pc), cloud.URL); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []string{"Bearer token-for-team-a@p.iam.gserviceaccount.com", "Bearer token-for-team-b@p.iam.gserviceaccount.com"}
	for i, got := range cloud.seen() {
		if got != want[i%2] {
			t.Errorf("request %d carried %q, want %q", i, got, want[i%2])
		}
	}
	if got := iam.askedFor(); strings.Join(got, ",") != "team-a@p.iam.gserviceaccount.com,team-b@p.iam.gserviceaccount.com" {
		t.Errorf("generateAccessToken asked for %v, want each account once", got)
	}
	for _, c := range iam.caller {
		if c != "Bearer controller-token" {
			t.Errorf("generateAccessToken called with %q, want the controller's credentials", c)
		}
	}
}

// A refused account is an error naming the ProviderConfig and the account;
// nothing is sent, with or without credentials.
func TestImpersonationRefusedNeverFallsBack(t *testing.T) {
	iam := newIAMStandIn(t, "denied@p.iam.gserviceaccount.com")
	r := NewResolver(world(t, impersonating("c", "denied@p.iam.gserviceaccount.com")), Options{
		IAMCredentialsEndpoint: iam.URL, IAMCredentialsOptions: []option.ClientOption{option.WithoutAuthentication()},
	})
	cloud := newRecorder(t)
	err := get(resolve(t, r, "c"), cloud.URL)
	var cerr *CredentialsError
	if !errors.As(err, &cerr) || cerr.Code != codes.PermissionDenied {
		t.Fatalf("want a PermissionDenied CredentialsError, got %v", err)
	}
	for _, s := range []string{`ProviderConfig "c"`, "service account denied@p.iam.gserviceaccount.com", "403", "roles/iam.serviceAccountTokenCreator", "nothing was sent"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error should say %q: %v", s, err)
		}
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC code %v", status.Code(err))
	}
	if n := len(cloud.seen()); n != 0 {
		t.Errorf("%d requests reached the cloud", n)
	}
	// A config not made by a Resolver has no token source: it fails too.
	err = get(&Config{Name: "x", Credentials: corev1alpha1.CredentialsImpersonate, ServiceAccount: "x@p"}, cloud.URL)
	if !errors.As(err, &cerr) || len(cloud.seen()) != 0 {
		t.Errorf("unresolved config: %v, %d requests", err, len(cloud.seen()))
	}
}

// Token sources belong to one ProviderConfig: two that impersonate the same
// account do not share one; an edit that keeps the identity keeps it (and
// its token), one that changes the identity does not. Key changes with
// the identity.
func TestTokenSourcesAreNotShared(t *testing.T) {
	iam := newIAMStandIn(t)
	cl := world(t, impersonating("a", "same@p.iam.gserviceaccount.com"), impersonating("b", "same@p.iam.gserviceaccount.com"))
	r := NewResolver(cl, Options{IAMCredentialsEndpoint: iam.URL, IAMCredentialsOptions: []option.ClientOption{option.WithoutAuthentication()}})
	a, b := resolve(t, r, "a"), resolve(t, r, "b")
	if a.tokens == b.tokens {
		t.Fatal("two ProviderConfigs share a token source")
	}
	ctx := context.Background()
	var pc corev1alpha1.ProviderConfig
	if err := cl.Get(ctx, client.ObjectKey{Name: "a"}, &pc); err != nil {
		t.Fatal(err)
	}
	pc.Spec.ReferenceProjects = []string{"other"}
	if err := cl.Update(ctx, &pc); err != nil {
		t.Fatal(err)
	}
	a2 := resolve(t, r, "a")
	if a2.tokens != a.tokens || a2.Key() == a.Key() {
		t.Errorf("unrelated edit: same token source %v, new key %q vs %q", a2.tokens == a.tokens, a2.Key(), a.Key())
	}
	pc.Spec.Credentials.ServiceAccount = "other@p.iam.gserviceaccount.com"
	if err := cl.Update(ctx, &pc); err != nil {
		t.Fatal(err)
	}
	a3 := resolve(t, r, "a")
	if a3.tokens == a2.tokens || !strings.Contains(a3.Key(), "other@p.iam.gserviceaccount.com") {
		t.Errorf("identity change: token source reused or key %q without the account", a3.Key())
	}
	if tok, err := a3.tokens.Token(); err != nil || tok.AccessToken != "token-for-other@p.iam.gserviceaccount.com" {
		t.Errorf("token after the identity change: %v %v", tok, err)
	}
}

// A credentialed config sends its token over plain http only to this
// machine.
func TestCleartextOnlyToLoopback(t *testing.T) {
	c := &Config{Name: "a", Credentials: corev1alpha1.CredentialsImpersonate, ServiceAccount: "a@p"}
	method := func(*http.Request) string { return "m" }
	if _, err := c.HTTPOptions(context.Background(), "storage", "http://10.1.2.3:4443/storage/v1/", method); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("remote plain http: %v", err)
	}
	for _, ep := range []string{"http://127.0.0.1:4443/storage/v1/", "http://localhost:1/storage/v1/", "http://[::1]:1/", "https://storage.example.com/storage/v1/", ""} {
		if _, err := c.HTTPOptions(context.Background(), "storage", ep, method); err != nil {
			t.Errorf("%q: %v", ep, err)
		}
	}
	none := &Config{Name: "n", Credentials: corev1alpha1.CredentialsNone}
	if _, err := none.HTTPOptions(context.Background(), "storage", "http://10.1.2.3:4443/storage/v1/", method); err != nil {
		t.Errorf("no credentials, remote plain http: %v", err)
	}
}

// tokenEndpoint is an OAuth 2.0 token endpoint for service-account keys: it
// checks the JWT assertion's signature against the keys it knows and
// returns "key-token-<iss>".
type tokenEndpoint struct {
	*httptest.Server
	mu    sync.Mutex
	keys  map[string]*rsa.PublicKey // by client_email
	calls int
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	te := &tokenEndpoint{keys: map[string]*rsa.PublicKey{}}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.mu.Lock()
		defer te.mu.Unlock()
		te.calls++
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			http.Error(w, `{"error": "invalid_request"}`, http.StatusBadRequest)
			return
		}
		parts := strings.Split(r.Form.Get("assertion"), ".")
		if len(parts) != 3 {
			http.Error(w, `{"error": "invalid_grant"}`, http.StatusBadRequest)
			return
		}
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims struct {
			Iss   string `json:"iss"`
			Scope string `json:"scope"`
		}
		_ = json.Unmarshal(payload, &claims)
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		pub := te.keys[claims.Iss]
		if pub == nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil || claims.Scope != cloudPlatformScope {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token": %q, "token_type": "Bearer", "expires_in": 3600}`, "key-token-"+claims.Iss)
	}))
	t.Cleanup(te.Close)
	return te
}

// mintKey makes a service-account key JSON for email whose token_uri is
// te, and registers its public key there (unless forged).
func (te *tokenEndpoint) mintKey(t *testing.T, email string, forged bool) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if !forged {
		te.mu.Lock()
		te.keys[email] = &k.PublicKey
		te.mu.Unlock()
	}
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "kid-" + email, "client_email": email, "client_id": "1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"token_uri":   te.URL + "/token",
	})
	return b
}

func (te *tokenEndpoint) callCount() int {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.calls
}

func keySecret(ns, name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

// A service-account key from a Secret yields tokens of its token endpoint;
// a rotated key is used from the next token on; a missing Secret, key or a
// key that is not a service account's fails clearly without any call.
func TestSecretKey(t *testing.T) {
	te := newTokenEndpoint(t)
	ctx := context.Background()
	sec := keySecret("platform", "team-k-key", map[string][]byte{SecretKeyField: te.mintKey(t, "key-sa@p.iam.gserviceaccount.com", false)})
	cl := world(t, withSecretKey("k", "platform", "team-k-key"), withSecretKey("missing", "platform", "nope"), sec)
	r := NewResolver(cl, Options{})
	cloud := newRecorder(t)

	k := resolve(t, r, "k")
	for range 2 {
		if err := get(k, cloud.URL); err != nil {
			t.Fatal(err)
		}
	}
	if got := cloud.seen(); len(got) != 2 || got[0] != "Bearer key-token-key-sa@p.iam.gserviceaccount.com" || got[1] != got[0] {
		t.Errorf("requests carried %q", got)
	}
	if n := te.callCount(); n != 1 {
		t.Errorf("%d token exchanges for two calls, want 1", n)
	}

	// Rotation: the Secret now holds another key.
	sec.Data[SecretKeyField] = te.mintKey(t, "rotated@p.iam.gserviceaccount.com", false)
	if err := cl.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if err := get(k, cloud.URL); err != nil {
		t.Fatal(err)
	}
	if got := cloud.seen(); got[len(got)-1] != "Bearer key-token-rotated@p.iam.gserviceaccount.com" {
		t.Errorf("after rotation: %q", got[len(got)-1])
	}

	// A key the token endpoint rejects.
	sec.Data[SecretKeyField] = te.mintKey(t, "forged@p.iam.gserviceaccount.com", true)
	if err := cl.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	before := len(cloud.seen())
	err := get(k, cloud.URL)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Invalid JWT Signature") {
		t.Errorf("rejected key: %v", err)
	}

	// Not a service-account key: refused before any call.
	calls := te.callCount()
	sec.Data[SecretKeyField] = []byte(`{"type": "external_account", "credential_source": {"file": "/etc/passwd"}}`)
	if err := cl.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if err := get(k, cloud.URL); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "not a service-account key") {
		t.Errorf("external_account key: %v", err)
	}

	// No key.json.
	sec.Data = map[string][]byte{"other": []byte("x")}
	if err := cl.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if err := get(k, cloud.URL); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), `has no "key.json"`) {
		t.Errorf("no key.json: %v", err)
	}

	// No Secret.
	err = get(resolve(t, r, "missing"), cloud.URL)
	for _, s := range []string{`ProviderConfig "missing"`, "Secret platform/nope", "does not exist", "nothing was sent"} {
		if !strings.Contains(fmt.Sprint(err), s) {
			t.Errorf("missing Secret: error should say %q: %v", s, err)
		}
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("missing Secret: code %v", status.Code(err))
	}
	if len(cloud.seen()) != before || te.callCount() != calls {
		t.Errorf("calls were made without a usable key: cloud %d→%d, token endpoint %d→%d", before, len(cloud.seen()), calls, te.callCount())
	}
}

// gRPC clients send the identity's token as per-RPC credentials (over
// TLS); a refused token fails the call with PermissionDenied before it is
// sent.
func TestGRPCCarriesIdentityToken(t *testing.T) {
	iam := newIAMStandIn(t, "denied@p.iam.gserviceaccount.com")
	r := NewResolver(world(t, impersonating("a", "team-a@p.iam.gserviceaccount.com"), impersonating("d", "denied@p.iam.gserviceaccount.com")),
		Options{IAMCredentialsEndpoint: iam.URL, IAMCredentialsOptions: []option.ClientOption{option.WithoutAuthentication()}})

	var mu sync.Mutex
	var seen []string
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		seen = append(seen, strings.Join(md.Get("authorization"), ","))
		mu.Unlock()
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	srv := httptest.NewUnstartedServer(gs)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	addr := strings.TrimPrefix(srv.URL, "https://")

	check := func(pc string) error {
		c := resolve(t, r, pc)
		opts := append(c.GRPCOptions("pubsub", addr),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool}))))
		conn, err := gtransport.Dial(context.Background(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check("a"); err != nil {
		t.Fatal(err)
	}
	err := check("d")
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `ProviderConfig "d"`) {
		t.Errorf("refused identity over gRPC: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "Bearer token-for-team-a@p.iam.gserviceaccount.com" {
		t.Errorf("calls received: %q", seen)
	}
}
