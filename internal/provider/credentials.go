package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"
	iamcredentials "google.golang.org/api/iamcredentials/v1"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A ProviderConfig either uses the controller's own credentials
// (ApplicationDefault), none (emulators), or names an identity of its own
// (ImpersonateServiceAccount, SecretKey). A named identity's tokens come
// from a token source of that ProviderConfig alone (cached by the
// Resolver per ProviderConfig name, never shared), and any failure to get
// one is an error of the call: nothing falls back to the controller's
// credentials, and nothing is sent without a token.

const (
	// cloudPlatformScope is the scope of every token: IAM decides what the
	// identity may do.
	cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
	// SecretKeyField is the Secret key that holds a service-account key
	// (source SecretKey).
	SecretKeyField = "key.json"
	// tokenLifetime is what generateAccessToken is asked for (the
	// default and longest without an org policy).
	tokenLifetime = time.Hour
	// tokenEarly: a token is renewed this long before it expires, so a
	// call never leaves with one about to expire.
	tokenEarly = 5 * time.Minute
	// tokenTimeout bounds one token request (generateAccessToken, a key's
	// token exchange, reading the Secret).
	tokenTimeout = 30 * time.Second
)

// namedIdentity says whether source names an identity of the
// ProviderConfig's own.
func namedIdentity(source corev1alpha1.CredentialsSource) bool {
	return source == corev1alpha1.CredentialsImpersonate || source == corev1alpha1.CredentialsSecretKey
}

// identityKey identifies what a ProviderConfig's tokens are minted for;
// "" for the controller's credentials or none.
func identityKey(c *corev1alpha1.Credentials) string {
	switch c.Source {
	case corev1alpha1.CredentialsImpersonate:
		return "impersonate:" + c.ServiceAccount
	case corev1alpha1.CredentialsSecretKey:
		if c.SecretRef == nil {
			return "secret:"
		}
		return "secret:" + c.SecretRef.Namespace + "/" + c.SecretRef.Name
	}
	return ""
}

// describeIdentity names the identity in messages.
func describeIdentity(c *Config) string {
	switch c.Credentials {
	case corev1alpha1.CredentialsImpersonate:
		return "service account " + c.ServiceAccount
	case corev1alpha1.CredentialsSecretKey:
		if c.SecretRef == nil {
			return "the service-account key of spec.credentials.secretRef (unset)"
		}
		return fmt.Sprintf("the service-account key in Secret %s/%s", c.SecretRef.Namespace, c.SecretRef.Name)
	}
	return string(c.Credentials)
}

// CredentialsError is a failure to get a token for a ProviderConfig's own
// identity. The call it was for was not sent. Its gRPC code (CloudCode,
// conditions, retries) is PermissionDenied when the token was refused,
// Unauthenticated when the identity is unusable as configured (a missing
// Secret or key), and Unavailable when asking failed (try again).
type CredentialsError struct {
	ProviderConfig string
	Identity       string // e.g. "service account a@p.iam.gserviceaccount.com"
	Code           codes.Code
	Msg            string
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("ProviderConfig %q: no token for %s: %s; nothing was sent (a ProviderConfig that names an identity never uses the controller's own credentials)",
		e.ProviderConfig, e.Identity, e.Msg)
}

// GRPCStatus gives the error its code, in gRPC per-RPC credentials and in
// CloudCode alike.
func (e *CredentialsError) GRPCStatus() *status.Status { return status.New(e.Code, e.Error()) }

// tokenSourceFor returns the token source of c's named identity, shared by
// every client of that ProviderConfig name while the identity stays the
// same (tokens survive unrelated edits), and never by two ProviderConfigs.
func (r *Resolver) tokenSourceFor(pc *corev1alpha1.ProviderConfig, c *Config) oauth2.TokenSource {
	key := identityKey(&pc.Spec.Credentials)
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.tokens[pc.Name]; ok && cur.key == key {
		return cur.ts
	}
	var ts oauth2.TokenSource
	switch c.Credentials {
	case corev1alpha1.CredentialsImpersonate:
		ts = oauth2.ReuseTokenSourceWithExpiry(nil, &impersonatedSource{pc: c.Name, account: c.ServiceAccount, iam: r.iam}, tokenEarly)
	case corev1alpha1.CredentialsSecretKey:
		ts = &secretKeySource{pc: c.Name, ref: c.SecretRef, reader: r.reader}
	}
	r.tokens[pc.Name] = cachedTokens{key: key, ts: ts}
	return ts
}

type cachedTokens struct {
	key string
	ts  oauth2.TokenSource
}

// identityTokens returns the token source of c's named identity; a config
// not made by a Resolver has none, and its calls fail.
func (c *Config) identityTokens() oauth2.TokenSource {
	if c.tokens != nil {
		return c.tokens
	}
	return errTokenSource{&CredentialsError{ProviderConfig: c.Name, Identity: describeIdentity(c), Code: codes.Unauthenticated, Msg: "the config was not resolved by a Resolver"}}
}

type errTokenSource struct{ err error }

func (s errTokenSource) Token() (*oauth2.Token, error) { return nil, s.err }

// iamClient is the controller's client of the IAM Credentials API, built
// on first use (a controller with no ProviderConfig that impersonates
// needs no credentials of its own to call it) and shared by all
// ProviderConfigs: it calls as the controller.
type iamClient struct {
	endpoint string
	opts     []option.ClientOption

	mu  sync.Mutex
	svc *iamcredentials.Service
}

func (i *iamClient) service() (*iamcredentials.Service, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.svc != nil {
		return i.svc, nil
	}
	var opts []option.ClientOption
	if i.endpoint != "" {
		opts = append(opts, option.WithEndpoint(i.endpoint))
	}
	opts = append(opts, option.WithScopes(cloudPlatformScope))
	opts = append(opts, i.opts...)
	svc, err := iamcredentials.NewService(context.Background(), opts...)
	if err != nil {
		return nil, err // not cached: the next token request tries again
	}
	i.svc = svc
	return svc, nil
}

// impersonatedSource mints tokens of a service account with the IAM
// Credentials API's generateAccessToken, called as the controller (which
// needs roles/iam.serviceAccountTokenCreator on the account).
type impersonatedSource struct {
	pc, account string
	iam         *iamClient
}

func (s *impersonatedSource) fail(code codes.Code, format string, args ...any) error {
	return &CredentialsError{ProviderConfig: s.pc, Identity: "service account " + s.account, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func (s *impersonatedSource) Token() (*oauth2.Token, error) {
	if s.account == "" {
		return nil, s.fail(codes.Unauthenticated, "spec.credentials.serviceAccount is empty")
	}
	svc, err := s.iam.service()
	if err != nil {
		return nil, s.fail(codes.Unauthenticated, "the controller cannot call the IAM Credentials API with its own credentials: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	resp, err := svc.Projects.ServiceAccounts.GenerateAccessToken("projects/-/serviceAccounts/"+s.account,
		&iamcredentials.GenerateAccessTokenRequest{Scope: []string{cloudPlatformScope}, Lifetime: fmt.Sprintf("%ds", int(tokenLifetime.Seconds()))}).
		Context(ctx).Do()
	if err != nil {
		var gerr *googleapi.Error
		if errors.As(err, &gerr) {
			msg := gerr.Message
			if msg == "" {
				msg = http.StatusText(gerr.Code)
			}
			code := tokenRefusalCode(gerr.Code)
			if code == codes.PermissionDenied || code == codes.Unauthenticated {
				return nil, s.fail(code, "the IAM Credentials API refused generateAccessToken (%d: %s): the controller's identity needs roles/iam.serviceAccountTokenCreator on the account, and the account must exist", gerr.Code, msg)
			}
			return nil, s.fail(code, "the IAM Credentials API answered generateAccessToken with %d: %s", gerr.Code, msg)
		}
		return nil, s.fail(codes.Unavailable, "calling the IAM Credentials API: %v", err)
	}
	if resp.AccessToken == "" {
		return nil, s.fail(codes.Unavailable, "the IAM Credentials API returned no accessToken")
	}
	exp, err := time.Parse(time.RFC3339, resp.ExpireTime)
	if err != nil {
		return nil, s.fail(codes.Unavailable, "the IAM Credentials API returned expireTime %q: %v", resp.ExpireTime, err)
	}
	return &oauth2.Token{AccessToken: resp.AccessToken, TokenType: "Bearer", Expiry: exp}, nil
}

// tokenRefusalCode maps a token endpoint's HTTP error status: a refusal
// (any 4xx but 408 and 429, including 404 for an account that does not
// exist) is permanent; NotFound is never used, since it would read as "the
// cloud resource is gone".
func tokenRefusalCode(status int) codes.Code {
	switch {
	case status == http.StatusUnauthorized:
		return codes.Unauthenticated
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return codes.Unavailable
	case status >= 400:
		return codes.PermissionDenied
	}
	return codes.Unavailable
}

// The key's Secret may be in any namespace the ProviderConfig names, and
// is read through the cache (an informer on Secrets).
//
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// secretKeySource gets tokens with the service-account key in a Secret.
// The Secret is read (through the controller's cache) on every token
// request, so a rotated key is used from the next call on, and a deleted
// Secret stops the calls.
type secretKeySource struct {
	pc     string
	ref    *corev1alpha1.SecretReference
	reader client.Reader

	mu  sync.Mutex
	rv  string             // resourceVersion of the Secret ts was made from
	uid types.UID          // and its UID (a re-created Secret)
	ts  oauth2.TokenSource // tokens of that key, reused until they expire
}

func (s *secretKeySource) fail(code codes.Code, format string, args ...any) error {
	id := "the service-account key of spec.credentials.secretRef"
	if s.ref != nil {
		id = fmt.Sprintf("the service-account key in Secret %s/%s", s.ref.Namespace, s.ref.Name)
	}
	return &CredentialsError{ProviderConfig: s.pc, Identity: id, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func (s *secretKeySource) Token() (*oauth2.Token, error) {
	if s.ref == nil {
		return nil, s.fail(codes.Unauthenticated, "spec.credentials.secretRef is unset")
	}
	if s.reader == nil {
		return nil, s.fail(codes.Unauthenticated, "no Kubernetes reader to read the Secret")
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	var sec corev1.Secret
	if err := s.reader.Get(ctx, types.NamespacedName{Namespace: s.ref.Namespace, Name: s.ref.Name}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, s.fail(codes.Unauthenticated, "the Secret (spec.credentials.secretRef) does not exist")
		}
		return nil, s.fail(codes.Unavailable, "reading the Secret: %v", err)
	}
	key := sec.Data[SecretKeyField]
	if len(key) == 0 {
		return nil, s.fail(codes.Unauthenticated, "the Secret has no %q", SecretKeyField)
	}
	s.mu.Lock()
	if s.ts == nil || s.rv != sec.ResourceVersion || s.uid != sec.UID {
		// Only service-account keys: other credential types (external
		// accounts) would make the controller read files or call URLs the
		// key names.
		cfg, err := google.JWTConfigFromJSON(key, cloudPlatformScope)
		if err != nil {
			s.mu.Unlock()
			return nil, s.fail(codes.Unauthenticated, "%q is not a service-account key: %v", SecretKeyField, err)
		}
		s.ts = oauth2.ReuseTokenSourceWithExpiry(nil, cfg.TokenSource(context.Background()), tokenEarly)
		s.rv, s.uid = sec.ResourceVersion, sec.UID
	}
	ts := s.ts
	s.mu.Unlock()
	tok, err := ts.Token()
	if err != nil {
		var rerr *oauth2.RetrieveError
		if errors.As(err, &rerr) && rerr.Response != nil {
			return nil, s.fail(tokenRefusalCode(rerr.Response.StatusCode), "the token endpoint answered %d: %s", rerr.Response.StatusCode, oauthMessage(rerr))
		}
		return nil, s.fail(codes.Unavailable, "exchanging the key for a token: %v", err)
	}
	return tok, nil
}

func oauthMessage(e *oauth2.RetrieveError) string {
	switch {
	case e.ErrorDescription != "":
		return e.ErrorCode + ": " + e.ErrorDescription
	case e.ErrorCode != "":
		return e.ErrorCode
	}
	b := e.Body
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// tokenTransport adds the identity's token to every request; without a
// token the request is not sent.
type tokenTransport struct {
	ts   oauth2.TokenSource
	base http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.ts.Token()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	tok.SetAuthHeader(r)
	return t.base.RoundTrip(r)
}

// checkCleartext refuses to send credentials to a plain-http endpoint that
// is not on this machine: a token sent in clear text is anyone's on the
// way. Loopback endpoints (local fakes, test proxies) are allowed.
func checkCleartext(pc, service, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return status.Errorf(codes.FailedPrecondition, "ProviderConfig %q: the %s endpoint %s is plain http and not on this machine: credentials are only sent over https (or to a loopback endpoint); use https, or credentials source None for an emulator", pc, service, endpoint)
}
