package validate

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// builtinKind is a Kubernetes built-in kind a directory may carry next to
// infraplane's kinds. Only its versions and scope are known offline: its
// schema is not embedded, so its objects are not schema-checked.
type builtinKind struct {
	versions   []string
	namespaced bool
}

// builtinKinds are the built-in kinds validate knows by name. The list is
// deliberately short: what a GitOps directory next to infraplane objects
// plausibly holds. Anything else is an unknown kind (allowed with
// --allow-unknown-kinds).
var builtinKinds = map[schema.GroupKind]builtinKind{
	{Group: "", Kind: "ConfigMap"}:             {[]string{"v1"}, true},
	{Group: "", Kind: "Secret"}:                {[]string{"v1"}, true},
	{Group: "", Kind: "ServiceAccount"}:        {[]string{"v1"}, true},
	{Group: "", Kind: "Service"}:               {[]string{"v1"}, true},
	{Group: "", Kind: "Endpoints"}:             {[]string{"v1"}, true},
	{Group: "", Kind: "Pod"}:                   {[]string{"v1"}, true},
	{Group: "", Kind: "PersistentVolumeClaim"}: {[]string{"v1"}, true},
	{Group: "", Kind: "LimitRange"}:            {[]string{"v1"}, true},
	{Group: "", Kind: "ResourceQuota"}:         {[]string{"v1"}, true},
	{Group: "", Kind: "Event"}:                 {[]string{"v1"}, true},
	{Group: "", Kind: "Namespace"}:             {[]string{"v1"}, false},
	{Group: "", Kind: "PersistentVolume"}:      {[]string{"v1"}, false},
	{Group: "", Kind: "Node"}:                  {[]string{"v1"}, false},

	{Group: "apps", Kind: "Deployment"}:  {[]string{"v1"}, true},
	{Group: "apps", Kind: "StatefulSet"}: {[]string{"v1"}, true},
	{Group: "apps", Kind: "DaemonSet"}:   {[]string{"v1"}, true},
	{Group: "apps", Kind: "ReplicaSet"}:  {[]string{"v1"}, true},
	{Group: "batch", Kind: "Job"}:        {[]string{"v1"}, true},
	{Group: "batch", Kind: "CronJob"}:    {[]string{"v1"}, true},

	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:               {[]string{"v1"}, true},
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        {[]string{"v1"}, true},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        {[]string{"v1"}, false},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: {[]string{"v1"}, false},

	{Group: "coordination.k8s.io", Kind: "Lease"}:                     {[]string{"v1"}, true},
	{Group: "events.k8s.io", Kind: "Event"}:                           {[]string{"v1"}, true},
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:               {[]string{"v1"}, true},
	{Group: "networking.k8s.io", Kind: "Ingress"}:                     {[]string{"v1"}, true},
	{Group: "policy", Kind: "PodDisruptionBudget"}:                    {[]string{"v1"}, true},
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:           {[]string{"v1", "v2"}, true},
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: {[]string{"v1"}, false},

	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        {[]string{"v1"}, false},
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: {[]string{"v1"}, false},
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   {[]string{"v1"}, false},
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     {[]string{"v1"}, false},
}
