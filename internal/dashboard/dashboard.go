// Package dashboard is infraplane's read-only web dashboard: the fleet at a
// glance, per namespace, one object in depth, updated live.
//
// Every read is made as the person logged in — with their bearer token, or
// under `infraplane up` as the local admin — so Kubernetes RBAC decides
// what a page shows. The dashboard's own identity only lists namespace
// names and the kinds Blueprints define (to know what to ask for); what a
// person may see of them is asked of the API server as that person
// (docs/dashboard.md).
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/status"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a dashboard.
type Options struct {
	// Config is the dashboard's own identity and where the API server is.
	// It is used to list namespace names and the cluster's kinds, never
	// for what a page shows; people's clients keep only its host and CA.
	Config *rest.Config
	// AdminToken, when set, is a login token that makes a session of the
	// local admin, who reads with AdminConfig (`infraplane up`).
	AdminToken  string
	AdminConfig *rest.Config
	// SessionTTL bounds a session (default 8 h); a bearer token that
	// expires earlier ends it sooner.
	SessionTTL time.Duration
	Logger     *slog.Logger
	// Ledger is where the audit ledger is, as `infraplane audit --ledger`
	// takes it (a file, or a PostgreSQL URL); "" for none. The dashboard
	// reads it with its own access and shows each person only what they
	// may read of it (audit.go).
	Ledger string
}

// Handler serves the dashboard.
type Handler struct {
	opts     Options
	log      *slog.Logger
	ttl      time.Duration
	mapper   meta.RESTMapper
	own      client.Client
	pages    map[string]*template.Template
	mux      *http.ServeMux
	sessions sessions
	ledger   *ledgerCache // nil without a ledger

	kindsMu sync.Mutex
	kinds   []status.Kind
	kindsAt time.Time
}

// New makes a dashboard.
func New(opts Options) (*Handler, error) {
	if opts.Config == nil {
		return nil, errors.New("dashboard: no API server config")
	}
	if opts.AdminToken != "" && opts.AdminConfig == nil {
		return nil, errors.New("dashboard: an admin token needs the admin's config")
	}
	h := &Handler{opts: opts, log: opts.Logger, ttl: opts.SessionTTL}
	if h.log == nil {
		h.log = slog.Default()
	}
	if opts.Ledger != "" {
		h.ledger = &ledgerCache{loc: opts.Ledger}
	}
	if h.ttl == 0 {
		h.ttl = 8 * time.Hour
	}
	httpClient, err := rest.HTTPClientFor(opts.Config)
	if err != nil {
		return nil, err
	}
	// API discovery is the same for everyone; one mapper serves all
	// sessions instead of a discovery round per login.
	h.mapper, err = apiutil.NewDynamicRESTMapper(opts.Config, httpClient)
	if err != nil {
		return nil, err
	}
	h.own, err = client.New(opts.Config, client.Options{Scheme: scheme.New(), Mapper: h.mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, err
	}
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", h.login)
	m.HandleFunc("POST /login", h.login)
	m.HandleFunc("POST /logout", h.logout)
	m.HandleFunc("GET /{$}", h.overview)
	m.HandleFunc("GET /ns/{namespace}", h.namespace)
	m.HandleFunc("GET /o/{namespace}/{kind}/{name}", h.object)
	m.HandleFunc("GET /breakglass", h.breakGlassList)
	m.HandleFunc("GET /breakglass/{namespace}/{name}", h.breakGlass)
	m.HandleFunc("GET /rollouts", h.rollouts)
	m.HandleFunc("GET /rollouts/{blueprint}", h.rollout)
	m.HandleFunc("GET /audit", h.audit)
	m.HandleFunc("GET /live", h.live)
	h.mux = m
	return h, nil
}

// ServeHTTP adds the headers every answer carries and serves the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) parseTemplates() error {
	funcs := template.FuncMap{
		"objectURL":  objectURL,
		"sourceURL":  sourceURL,
		"stateOf":    stateOf,
		"pct":        pct,
		"join":       joinStrings,
		"chain":      func(s []string) string { return strings.Join(s, " → ") },
		"until":      until,
		"rows":       rowsOf,
		"bgURL":      bgURL,
		"rolloutURL": rolloutURL,
	}
	h.pages = map[string]*template.Template{}
	for _, p := range []string{"login", "overview", "namespace", "object", "error", "audit", "breakglasses", "breakglass", "rollouts", "rollout"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/history.html", "templates/"+p+".html")
		if err != nil {
			return err
		}
		h.pages[p] = t
	}
	return nil
}

// pageData is what every page template gets.
type pageData struct {
	Title  string
	Person *Person
	// Live is the query of /live for this page ("" for no live updates).
	Live     string
	Error    string
	Login    loginInfo
	Overview *overviewData
	NS       *namespaceData
	Object   *objectData

	// The break-glass, rollout and audit pages (breakglass.go,
	// rollouts.go, audit.go).
	BreakGlasses *breakGlassListData
	BreakGlass   *breakGlassData
	Rollouts     *rolloutsData
	Audit        *auditData
}

// render writes a page; a request with X-Fragment (the live updates)
// gets only the page's main region.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, page string, d pageData) {
	name := "layout"
	if r.Header.Get("X-Fragment") != "" {
		name = "main"
	}
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, name, d); err != nil {
		h.log.Error("dashboard: rendering", "page", page, "err", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, ss *session, code int, err error) {
	if h.expired(w, r, ss, err) {
		return
	}
	w.WriteHeader(code)
	h.render(w, r, "error", pageData{Title: "Error", Person: &ss.person, Error: err.Error()})
}

// clusterKinds are the kinds to list: infraplane's CRDs and the kinds
// Blueprints define, read with the dashboard's identity (they name kinds,
// not objects) and kept for a while.
func (h *Handler) clusterKinds(ctx context.Context) ([]status.Kind, error) {
	h.kindsMu.Lock()
	defer h.kindsMu.Unlock()
	if h.kinds != nil && time.Since(h.kindsAt) < 30*time.Second {
		return h.kinds, nil
	}
	k, err := status.LoadClusterKinds(ctx, h.own)
	if err != nil {
		return nil, err
	}
	h.kinds, h.kindsAt = k, time.Now()
	return k, nil
}

// Serve serves h on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	// Requests end with ctx, so that live streams do not hold up shutdown.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
