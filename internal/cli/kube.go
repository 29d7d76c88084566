package cli

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/scheme"
)

// kubeFlags are the flags of commands that talk to a running infraplane.
type kubeFlags struct {
	kubeconfig string
	namespace  string
}

func (k *kubeFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig (default: $KUBECONFIG, else .infraplane/kubeconfig when it exists, else in-cluster)")
	fl.StringVarP(&k.namespace, "namespace", "n", "default", "namespace")
}

// client connects to the cluster: the embedded default written by
// `infraplane up` in this directory is found without any flag.
func (k *kubeFlags) client() (client.Client, error) {
	cfg, err := k.config()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme.New()})
}

// config is the REST config client connects with.
func (k *kubeFlags) config() (*rest.Config, error) {
	path := k.kubeconfig
	if path == "" && os.Getenv("KUBECONFIG") == "" {
		if p := filepath.Join(".infraplane", "kubeconfig"); fileExists(p) {
			path = p
		}
	}
	cfg, err := loadRESTConfig(path)
	if err != nil {
		return nil, err
	}
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	explainRefused(cfg, path)
	// client-go's default of 5 requests/s would make a plan of 1,000
	// objects take minutes; the CLI's requests are bounded by its own few
	// workers, and the server has priority and fairness.
	cfg.QPS, cfg.Burst = -1, 0
	return cfg, nil
}

// notListeningError is a refused connection to the API server, said as what
// it most likely means under `up`: nothing runs there.
type notListeningError struct {
	host, kubeconfig string
	err              error
}

func (e *notListeningError) Error() string {
	where := ""
	if e.kubeconfig != "" {
		where = " (kubeconfig: " + e.kubeconfig + ")"
	}
	return fmt.Sprintf("nothing is listening at %s — is `infraplane up` running?%s", e.host, where)
}

func (e *notListeningError) Unwrap() error { return e.err }

// explainRefused makes a refused connection to cfg's server a
// notListeningError naming the server and the kubeconfig; Run shows that
// instead of client-go's wrapping of it.
func explainRefused(cfg *rest.Config, kubeconfig string) {
	host := cfg.Host
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			res, err := rt.RoundTrip(req)
			if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
				err = &notListeningError{host: host, kubeconfig: kubeconfig, err: err}
			}
			return res, err
		})
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
