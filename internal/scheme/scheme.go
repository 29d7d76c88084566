// Package scheme builds the runtime.Scheme with every kind infraplane
// reads or writes: the Kubernetes built-ins, CRDs, and our API groups.
package scheme

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
)

// New returns a scheme with all of infraplane's kinds registered.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(corev1alpha1.AddToScheme(s))
	utilruntime.Must(pubsubv1.AddToScheme(s))
	utilruntime.Must(bigtablev1.AddToScheme(s))
	utilruntime.Must(postgresv1.AddToScheme(s))
	utilruntime.Must(spannerv1.AddToScheme(s))
	utilruntime.Must(storagev1.AddToScheme(s))
	return s
}
