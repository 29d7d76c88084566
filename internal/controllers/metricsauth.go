package controllers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsAuth guards /metrics the way the API server guards its own: the
// caller's bearer token is checked with a TokenReview, then GET on the
// path with a SubjectAccessReview (both cached briefly).
//
// controller-runtime's filters.WithAuthenticationAndAuthorization does the
// same but answers a token the API server rejects with a 500 and an
// error log line: anyone who reaches the port could fill the logs, and
// Prometheus would report a server fault for a credentials problem. Here
// every failed authentication is a 401 logged at debug level; only an API
// server that cannot be asked is an error.
func metricsAuth(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationv1.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	retry := &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
	authenticator, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		TokenAccessReviewClient:  authn,
		TokenAccessReviewTimeout: 10 * time.Second,
		CacheTTL:                 time.Minute,
		WebhookRetryBackoff:      retry,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	authorize, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: authz,
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       retry,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics authorization: %w", err)
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res, ok, err := authenticator.AuthenticateRequest(r)
			if err != nil || !ok {
				log.V(1).Info("metrics request not authenticated", "remote", r.RemoteAddr, "err", err)
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			user := res.User.GetName()
			decision, reason, err := authorize.Authorize(r.Context(), authorizer.AttributesRecord{
				User: res.User, Verb: "get", Path: r.URL.Path, ResourceRequest: false,
			})
			switch {
			case err != nil:
				log.Error(err, "could not ask the API server whether a caller may read metrics", "user", user)
				http.Error(w, "could not check authorization", http.StatusInternalServerError)
			case decision != authorizer.DecisionAllow:
				log.V(1).Info("metrics request refused", "user", user, "reason", reason)
				http.Error(w, "Forbidden: "+user+" may not get "+r.URL.Path+" (ClusterRole infraplane-metrics-reader)", http.StatusForbidden)
			default:
				next.ServeHTTP(w, r)
			}
		}), nil
	}, nil
}
