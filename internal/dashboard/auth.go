package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/scheme"
)

// CookieName is the session cookie. The __Host- prefix makes browsers
// refuse it unless it is Secure, host-only and for path /.
const CookieName = "__Host-infraplane-dashboard"

// TokenFile is the local admin's login token under a data dir.
const TokenFile = "dashboard.token"

// Person is who a session acts as, as the API server authenticated them.
type Person struct {
	Name   string
	Groups []string
	// Admin is the local admin of `infraplane up` (the login token).
	Admin bool
	// Header is true when each request brings the person's token in its
	// Authorization header (an authenticating proxy): there is no
	// session to log out of.
	Header bool
}

// session is one logged-in browser. It holds the person's credentials
// (their bearer token, or the local admin's kubeconfig identity) and
// clients made from them: every read a page makes goes through these.
type session struct {
	id      string
	person  Person
	cfg     *rest.Config
	c       client.Client
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	expires time.Time

	mu      sync.Mutex
	scope   *scope // the namespaces the person may read, cached briefly
	scopeAt time.Time
	streams int // live streams open
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss != nil && time.Now().After(ss.expires) {
		delete(s.m, id)
		return nil
	}
	return ss
}

func (s *sessions) put(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*session{}
	}
	now := time.Now()
	for id, o := range s.m { // drop expired ones as new ones come
		if now.After(o.expires) {
			delete(s.m, id)
		}
	}
	s.m[ss.id] = ss
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// EnsureTokenFile returns the local admin's login token kept in dir,
// making it (mode 0600) on first use: bookmarks of the login link keep
// working across restarts of up.
func EnsureTokenFile(dir string) (string, error) {
	path := filepath.Join(dir, TokenFile)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	tok := randomToken()
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

// newSession makes the clients of a session from the person's config.
func (h *Handler) newSession(p Person, cfg *rest.Config) (*session, error) {
	c, err := client.New(cfg, client.Options{Scheme: scheme.New(), Mapper: h.mapper})
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &session{id: randomToken(), person: p, cfg: cfg, c: c, kube: kube, dyn: dyn, expires: time.Now().Add(h.ttl)}, nil
}

// tokenConfig is a config that authenticates with the person's bearer
// token and nothing else: the dashboard's own credentials are dropped.
func (h *Handler) tokenConfig(token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(h.opts.Config)
	cfg.BearerToken = token
	cfg.RateLimiter = nil // not shared with the dashboard's own client
	cfg.QPS = -1          // one person's pages; the API server's priority and fairness applies
	return cfg
}

// loginToken turns what a person typed into a session: the local admin's
// token, or a bearer token the API server accepts (asked with the token
// itself, in a SelfSubjectReview, so the dashboard needs no right to
// review tokens and learns nothing a wrong token could not).
func (h *Handler) loginToken(ctx context.Context, token string) (*session, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errors.New("no token given")
	}
	if h.opts.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(h.opts.AdminToken)) == 1 {
		return h.newSession(Person{Name: "local admin", Admin: true}, h.opts.AdminConfig)
	}
	cfg := h.tokenConfig(token)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	r, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if apierrors.IsUnauthorized(err) {
		return nil, errors.New("the API server does not accept this token")
	}
	if err != nil {
		return nil, fmt.Errorf("asking the API server who this token is: %w", err)
	}
	u := r.Status.UserInfo
	return h.newSession(Person{Name: u.Username, Groups: u.Groups}, cfg)
}

// sameOrigin reports whether a state-changing request (login, logout)
// comes from a page of the dashboard itself: a cross-site form could
// otherwise log a browser in as someone else.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && u.Host == r.Host
	}
	return true // not a browser
}

func (h *Handler) setCookie(w http.ResponseWriter, ss *session) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: ss.id, Path: "/",
		Expires: ss.expires, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var token string
	switch r.Method {
	case http.MethodGet:
		// The login link up prints: ?token= of the local admin only.
		// A person's own token is taken from the form only: a token in a
		// URL ends up in histories and logs.
		token = r.URL.Query().Get("token")
		if token == "" || h.opts.AdminToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(h.opts.AdminToken)) != 1 {
			d := pageData{Title: "Log in", Login: h.loginInfo()}
			if token != "" {
				w.WriteHeader(http.StatusUnauthorized)
				d.Error = "This login link is not valid (up makes a new one with a new data dir). Paste a bearer token below."
			}
			h.render(w, r, "login", d)
			return
		}
	case http.MethodPost:
		if !sameOrigin(r) {
			http.Error(w, "cross-site login refused", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		token = r.PostFormValue("token")
	}
	ss, err := h.loginToken(r.Context(), token)
	if err != nil {
		h.log.Info("dashboard login refused", "err", err, "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, r, "login", pageData{Title: "Log in", Login: h.loginInfo(), Error: "Login failed: " + err.Error()})
		return
	}
	h.sessions.put(ss)
	h.setCookie(w, ss)
	h.log.Info("dashboard login", "user", ss.person.Name, "remote", r.RemoteAddr)
	// 303: the token does not stay in the address bar or the history.
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site logout refused", http.StatusForbidden)
		return
	}
	if ck, err := r.Cookie(CookieName); err == nil {
		h.sessions.drop(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// session returns the request's session, or nil after answering: a
// browser is sent to the login page, anything else gets 401.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) *session {
	if token, ok := bearerToken(r); ok {
		ss, err := h.headerSession(r.Context(), token)
		if err != nil {
			h.log.Info("dashboard bearer token refused", "err", err, "remote", r.RemoteAddr)
			http.Error(w, "the Authorization header's token: "+err.Error(), http.StatusUnauthorized)
			return nil
		}
		return ss
	}
	if ck, err := r.Cookie(CookieName); err == nil {
		if ss := h.sessions.get(ck.Value); ss != nil {
			return ss
		}
	}
	if r.Header.Get("Accept") == "text/event-stream" || r.Header.Get("X-Fragment") != "" {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return nil
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// expired ends a session whose credentials the API server no longer
// accepts (a service-account token ran out).
func (h *Handler) expired(w http.ResponseWriter, r *http.Request, ss *session, err error) bool {
	if !apierrors.IsUnauthorized(err) {
		return false
	}
	h.sessions.drop(ss.id)
	if ss.person.Header {
		http.Error(w, "the API server no longer accepts the Authorization header's token", http.StatusUnauthorized)
		return true
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return true
}

// bearerToken is the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// headerSessionTTL is how long the answer to who a header's token is, is
// kept. Reads are made with the token itself all the same, so a token the
// API server stops accepting stops working at once.
const headerSessionTTL = 5 * time.Minute

// headerSession serves a request that brings the person's bearer token
// in its Authorization header, as an authenticating proxy in front of the
// dashboard does (one that passes the identity provider's token on), or
// a script: no login form, no cookie. The session is kept under the
// token's hash so that a page is not a SelfSubjectReview per request; a
// browser cannot be made to send such a header to another site, so
// there is no cross-site request to guard against.
func (h *Handler) headerSession(ctx context.Context, token string) (*session, error) {
	sum := sha256.Sum256([]byte(token))
	id := "header:" + hex.EncodeToString(sum[:])
	if ss := h.sessions.get(id); ss != nil {
		return ss, nil
	}
	ss, err := h.loginToken(ctx, token)
	if err != nil {
		return nil, err
	}
	ss.id, ss.person.Header, ss.expires = id, true, time.Now().Add(headerSessionTTL)
	h.sessions.put(ss)
	return ss, nil
}

type loginInfo struct {
	LocalAdmin bool
}

func (h *Handler) loginInfo() loginInfo { return loginInfo{LocalAdmin: h.opts.AdminToken != ""} }
