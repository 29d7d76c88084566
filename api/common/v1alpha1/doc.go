// Package v1alpha1 holds the types every managed kind shares: the common
// spec fields (resource id, deletion and management policy, adoption,
// resync interval), references to other resources, and the common status
// (conditions, drift, resource id, last sync time).
//
// It defines no API group of its own; kinds embed these types inline.
// +kubebuilder:object:generate=true
package v1alpha1
