package managed

import (
	"regexp"
	"strings"
	"testing"
)

var labelValue = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)

func TestOwnerValueIsAValidUniqueLabel(t *testing.T) {
	long := strings.Repeat("a", 200)
	cases := map[string][2]string{
		"plain":          {"team-a", "orders"},
		"dots":           {"team-a", "orders.v2"},
		"long name":      {"team-a", long},
		"long, variant":  {"team-a", long + "b"},
		"long namespace": {long, "x"},
	}
	seen := map[string]string{}
	for name, c := range cases {
		v := OwnerValue(c[0], c[1])
		if !labelValue.MatchString(v) {
			t.Errorf("%s: %q is not a valid GCP label value", name, v)
		}
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s share the owner value %q", name, other, v)
		}
		seen[v] = name
	}
	if got := OwnerValue("team-a", "orders"); got != "team-a--orders" {
		t.Errorf("short values should stay readable, got %q", got)
	}
}

func TestDecideAdoption(t *testing.T) {
	ours := OwnerValue("ns", "obj")
	for _, tc := range []struct {
		name  string
		found string
		adopt bool
		want  adoption
	}{
		{"our label", ours, false, adoptOwned},
		{"our label, adopt set", ours, true, adoptOwned},
		{"no label", "", false, adoptRefused},
		{"no label, adopt set", "", true, adoptAllowed},
		{"another object's label", "ns--other", false, adoptConflict},
		{"another object's label, adopt set", "ns--other", true, adoptConflict},
	} {
		if got := decideAdoption(tc.found, ours, tc.adopt); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
