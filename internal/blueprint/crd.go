package blueprint

import (
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// CRDName is the name of the CRD of the compiled kind.
func (c *Compiled) CRDName() string { return c.Plural + "." + c.GVK.Group }

// CRD generates the CustomResourceDefinition of the instances' kind: the
// spec is the Blueprint's schema (with its defaults), the status holds
// conditions and the children.
func (c *Compiled) CRD(blueprintName string) *apiextensionsv1.CustomResourceDefinition {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	child := apiextensionsv1.JSONSchemaProps{
		Type:     "object",
		Required: []string{"id"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"id":         str,
			"apiVersion": str,
			"kind":       str,
			"name":       str,
			"ready":      {Type: "boolean"},
			"message":    str,
		},
	}
	status := apiextensionsv1.JSONSchemaProps{
		Type: "object",
		// A new instance is not yet reconciled: kstatus reads -1 as
		// InProgress, where no status at all would read as Current.
		Default: &apiextensionsv1.JSON{Raw: []byte(`{"observedGeneration":-1}`)},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"observedGeneration": {Type: "integer", Format: "int64"},
			"revision":           {Type: "integer", Format: "int64"},
			"conditions": {
				Type: "array",
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
					Type:     "object",
					Required: []string{"type", "status"},
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"type": str, "status": str, "reason": str, "message": str,
						"lastTransitionTime": {Type: "string", Format: "date-time"},
						"observedGeneration": {Type: "integer", Format: "int64"},
					},
				}},
				XListType:    ptr.To("map"),
				XListMapKeys: []string{"type"},
			},
			"resources": {
				Type:         "array",
				Items:        &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &child},
				XListType:    ptr.To("map"),
				XListMapKeys: []string{"id"},
			},
		},
	}
	spec := c.SpecSchema.DeepCopy()
	root := apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"apiVersion": str,
			"kind":       str,
			"metadata":   {Type: "object"},
			"spec":       *spec,
			"status":     status,
		},
	}
	if spec.Default == nil {
		// An instance without spec still gets the spec's defaults.
		s := root.Properties["spec"]
		s.Default = &apiextensionsv1.JSON{Raw: []byte("{}")}
		root.Properties["spec"] = s
	}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   c.CRDName(),
			Labels: map[string]string{corev1alpha1.BlueprintLabel: blueprintName},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: c.GVK.Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural:     c.Plural,
				Singular:   strings.ToLower(c.GVK.Kind),
				Kind:       c.GVK.Kind,
				ListKind:   c.GVK.Kind + "List",
				Categories: []string{"infraplane", "blueprints"},
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name:         c.GVK.Version,
				Served:       true,
				Storage:      true,
				Schema:       &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &root},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
					{Name: "READY", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].status`},
					{Name: "REVISION", Type: "integer", JSONPath: ".status.revision"},
					{Name: "STATUS", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].message`, Priority: 1},
					{Name: "AGE", Type: "date", JSONPath: ".metadata.creationTimestamp"},
				},
			}},
		},
	}
}

// established reports whether the API server serves the CRD, and if not,
// why (a names conflict, for one).
func established(crd *apiextensionsv1.CustomResourceDefinition) (bool, string) {
	msg := "waiting for the API server to establish the CRD"
	for _, c := range crd.Status.Conditions {
		switch {
		case c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue:
			return true, ""
		case c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse:
			msg = "CRD names not accepted: " + c.Message
		}
	}
	return false, msg
}
