package status

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// Decoding a list answer straight into rows (docs/benchmarks.md, "Issue
// 17: status decoded from the list's bytes"). At 20,000 objects, building
// every item as maps (and its status again as a typed struct, through the
// reflection of the unstructured converter) was most of status's own CPU.
// Here each item is read once, by a streaming tokenizer, into a struct
// with only the fields a report reads; managedFields and the rest are
// skipped unread.
//
// The items are written by many teams, and a kind a Blueprint defines may
// leave its status loosely typed: an item whose fields do not have the
// expected types (a condition's status that is a number, a time that is
// not RFC 3339) is read the way an object read whole is (RowOf), so it
// shows exactly as it did before this decoder, never fails the list.

// decodeOptions are lenient where the server never errs and a strict
// reader would turn an odd object into a failed report.
var decodeOptions = jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// listItem is the part of a list's item a report reads.
type listItem struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   listItemMeta `json:"metadata"`
	// Spec is read for references only (refSpec).
	Spec   refSpec        `json:"spec"`
	Status listItemStatus `json:"status"`
}

type listItemMeta struct {
	Name              string                  `json:"name"`
	Namespace         string                  `json:"namespace"`
	UID               types.UID               `json:"uid"`
	Generation        int64                   `json:"generation"`
	CreationTimestamp string                  `json:"creationTimestamp"`
	DeletionTimestamp string                  `json:"deletionTimestamp"`
	Labels            map[string]string       `json:"labels"`
	OwnerReferences   []metav1.OwnerReference `json:"ownerReferences"`
}

type listItemStatus struct {
	Conditions []listItemCondition   `json:"conditions"`
	Drift      []commonv1.FieldDrift `json:"drift"`
	// Revision and Resources are a Blueprint instance's.
	Revision  int64              `json:"revision"`
	Resources []instanceResource `json:"resources"`
}

type listItemCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
	LastTransitionTime string `json:"lastTransitionTime"`
	ObservedGeneration int64  `json:"observedGeneration"`
}

// errOddShape marks an item that is valid JSON but not of the expected
// shape: it is read as an object read whole instead.
var errOddShape = errors.New("odd shape")

// decodeList reads a list answer's items into rows, each as soon as it
// has arrived: the answer is never held whole.
func decodeList(body io.Reader) ([]*Row, error) {
	dec := jsontext.NewDecoder(body, decodeOptions)
	if err := want(dec, '{'); err != nil {
		return nil, err
	}
	var listAPIVersion, listKind string
	var rows []*Row
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String() // before the next read voids tok
		switch name {
		case "apiVersion", "kind":
			v, err := dec.ReadToken()
			if err != nil {
				return nil, err
			}
			if name == "kind" {
				listKind = v.String()
			} else {
				listAPIVersion = v.String()
			}
		case "items":
			if dec.PeekKind() == 'n' {
				_, err = dec.ReadToken()
				if err != nil {
					return nil, err
				}
				continue
			}
			if err := want(dec, '['); err != nil {
				return nil, err
			}
			for dec.PeekKind() != ']' {
				v, err := dec.ReadValue()
				if err != nil {
					return nil, err
				}
				r, err := decodeItem(v)
				if err != nil {
					return nil, err
				}
				rows = append(rows, r)
			}
			if _, err := dec.ReadToken(); err != nil {
				return nil, err
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return nil, err
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("decoding a list: data after the list")
	}
	// The list's own kind is written after its items: an item without
	// apiVersion or kind (servers write both) takes the list's.
	itemKind := strings.TrimSuffix(listKind, "List")
	for _, r := range rows {
		if r.apiVersion == "" || r.kind == "" {
			r.setAPIVersion(cmp.Or(r.apiVersion, listAPIVersion))
			r.kind = cmp.Or(r.kind, itemKind)
			if r.u != nil {
				r.u.SetAPIVersion(r.apiVersion)
				r.u.SetKind(r.kind)
			}
		}
	}
	return rows, nil
}

func want(dec *jsontext.Decoder, k jsontext.Kind) error {
	t, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if t.Kind() != k {
		return fmt.Errorf("decoding a list: want %v, got %v", k, t.Kind())
	}
	return nil
}

// decodeItem reads one item into a row; one of an odd shape as an object
// read whole, without its managedFields (as leanList did).
func decodeItem(v jsontext.Value) (*Row, error) {
	r, err := rowFromItem(v)
	if err == nil {
		return r, nil
	}
	var it leanItem
	if err := utiljson.Unmarshal(v, &it); err != nil {
		return nil, fmt.Errorf("decoding a list item: %w", err)
	}
	return RowOf(&unstructured.Unstructured{Object: it.object("", "")}), nil
}

// rowFromItem reads an item of the expected shape (errOddShape, or the
// decoder's error, for any other).
func rowFromItem(v jsontext.Value) (*Row, error) {
	var it listItem
	if err := jsonv2.Unmarshal(v, &it, decodeOptions); err != nil {
		return nil, err
	}
	m := it.Metadata
	r := &Row{kind: it.Kind,
		namespace: m.Namespace, name: m.Name, uid: m.UID, gen: m.Generation, labels: m.Labels, owners: m.OwnerReferences,
		drift: it.Status.Drift, revision: it.Status.Revision, spec: it.Spec}
	r.setAPIVersion(it.APIVersion)
	var err error
	if r.created.Time, err = parseTime(m.CreationTimestamp); err != nil {
		return nil, err
	}
	if m.DeletionTimestamp != "" {
		t, err := parseTime(m.DeletionTimestamp)
		if err != nil {
			return nil, err
		}
		r.deleting = &metav1.Time{Time: t}
	}
	// As conditionsOf: the last of a type wins.
	r.conds = make(map[string]*condition, len(it.Status.Conditions))
	for _, c := range it.Status.Conditions {
		t, err := parseTime(c.LastTransitionTime)
		if err != nil || c.LastTransitionTime == "" {
			return nil, errOddShape // metav1.Condition requires it
		}
		r.conds[c.Type] = &condition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message,
			LastTransitionTime: t, ObservedGeneration: c.ObservedGeneration}
	}
	// As instanceResources: entries without an id are not children.
	for _, res := range it.Status.Resources {
		if res.ID != "" {
			r.resources = append(r.resources, res)
		}
	}
	return r, nil
}

// refSpec is an item's spec, which a report reads for its references
// only: maps, as references are found by field name in any kind (a
// Blueprint's too). A spec that names no field …ref (any case, nor one
// spelled with escapes) has none, and is skipped instead of built: most
// objects reference nothing.
type refSpec map[string]any

func (s *refSpec) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if !mayHoldRef(v) {
		*s = nil
		return nil
	}
	var m map[string]any
	if err := jsonv2.Unmarshal(v, &m, decodeOptions); err != nil {
		return err
	}
	*s = m
	return nil
}

// mayHoldRef reports whether a JSON value may have a member named …ref in
// any case: `ref"` in any case, or an escape, which may spell it.
func mayHoldRef(v []byte) bool {
	for i, c := range v {
		if c == '\\' {
			return true
		}
		if c|0x20 == 'r' && i+3 < len(v) && v[i+1]|0x20 == 'e' && v[i+2]|0x20 == 'f' && v[i+3] == '"' {
			return true
		}
	}
	return false
}

// parseTime reads a timestamp as metav1.Time does (RFC 3339, local time;
// "" is no time).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errOddShape
	}
	return t.Local(), nil
}
