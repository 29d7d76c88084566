package bigtable

import (
	"fmt"
	"strings"
)

// instance is a Bigtable instance, parsed from its full name.
type instance struct{ project, id string }

func (i instance) name() string { return fmt.Sprintf("projects/%s/instances/%s", i.project, i.id) }

// TableName is a table's full name.
func TableName(inst, table string) string { return inst + "/tables/" + table }

// parseInstance accepts a full instance name, or a bare instance id in
// defaultProject (the form `infraplane import --bigtable-instance` allows).
func parseInstance(s, defaultProject string) (instance, error) {
	parts := strings.Split(s, "/")
	switch {
	case len(parts) == 1 && s != "" && defaultProject != "":
		return instance{project: defaultProject, id: s}, nil
	case len(parts) == 4 && parts[0] == "projects" && parts[2] == "instances" && parts[1] != "" && parts[3] != "":
		return instance{project: parts[1], id: parts[3]}, nil
	}
	return instance{}, fmt.Errorf("%q is not a Bigtable instance: want projects/PROJECT/instances/INSTANCE or an instance id", s)
}
