package cli

import (
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
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
	// client-go's default of 5 requests/s would make a plan of 1,000
	// objects take minutes; the CLI's requests are bounded by its own few
	// workers, and the server has priority and fairness.
	cfg.QPS, cfg.Burst = -1, 0
	return client.New(cfg, client.Options{Scheme: scheme.New()})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
