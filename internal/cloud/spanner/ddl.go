package spanner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// fieldDDL is the spec field of the DDL statements.
const fieldDDL = "spec.ddl"

// ddlHash identifies a list of statements: any change to one of them, or
// to their order, changes it.
func ddlHash(stmts []string) string {
	h := sha256.New()
	for _, s := range stmts {
		fmt.Fprintf(h, "%d:%s\n", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// recordApplied notes in status that the first n statements of spec.ddl
// were applied.
func recordApplied(db *spannerv1.SpannerDatabase, n int) {
	if db.Status.DDL == nil {
		db.Status.DDL = &spannerv1.DDLStatus{}
	}
	db.Status.DDL.AppliedStatements = int32(n)
	db.Status.DDL.AppliedHash = ddlHash(db.Spec.DDL[:n])
}

// baselineDDL is for a database this object did not create (adopted or
// imported) and has no record of: the leading statements of spec.ddl that
// the cloud lists verbatim count as applied, so adopting an imported
// database writes nothing.
func baselineDDL(db *spannerv1.SpannerDatabase, cloud []string) {
	n := 0
	for n < len(db.Spec.DDL) && n < len(cloud) && db.Spec.DDL[n] == cloud[n] {
		n++
	}
	recordApplied(db, n)
}

// diffDDL compares spec.ddl with what was applied. Appended statements are
// an ordinary (mutable) difference; a changed or removed applied statement
// is immutable: Spanner has no way to "edit" a statement that ran.
func diffDDL(db *spannerv1.SpannerDatabase, d *managed.Differ) {
	applied := 0
	hash := ddlHash(nil)
	if st := db.Status.DDL; st != nil {
		applied, hash = int(st.AppliedStatements), st.AppliedHash
	}
	want := len(db.Spec.DDL)
	switch {
	case want < applied || ddlHash(db.Spec.DDL[:applied]) != hash:
		d.Diffs = append(d.Diffs, managed.FieldDiff{
			Field:     fieldDDL,
			Desired:   fmt.Sprintf("%d statements whose first %d differ from the applied ones", want, min(want, applied)),
			Actual:    fmt.Sprintf("%d statements applied (hash %s); applied DDL statements cannot be changed or removed, only new ones appended (e.g. ALTER TABLE, DROP TABLE)", applied, hash),
			Immutable: true,
		})
	case want > applied:
		d.Add(fieldDDL, fmt.Sprintf("%d statements", want), fmt.Sprintf("%d applied", applied), false)
	}
}

// pendingDDL are the statements of spec.ddl not applied yet.
func pendingDDL(db *spannerv1.SpannerDatabase) []string {
	applied := 0
	if st := db.Status.DDL; st != nil {
		applied = int(st.AppliedStatements)
	}
	if applied >= len(db.Spec.DDL) {
		return nil
	}
	return db.Spec.DDL[applied:]
}

// retentionStatement sets a database's version retention period, in the
// dialect's DDL.
func retentionStatement(dialect spannerv1.DatabaseDialect, id, period string) string {
	if dialect == spannerv1.DialectPostgreSQL {
		return fmt.Sprintf("ALTER DATABASE \"%s\" SET spanner.version_retention_period = '%s'", id, period)
	}
	return fmt.Sprintf("ALTER DATABASE `%s` SET OPTIONS (version_retention_period = '%s')", id, period)
}

// createStatement creates a database, in the dialect's DDL.
func createStatement(dialect spannerv1.DatabaseDialect, id string) string {
	if dialect == spannerv1.DialectPostgreSQL {
		return fmt.Sprintf("CREATE DATABASE \"%s\"", id)
	}
	return fmt.Sprintf("CREATE DATABASE `%s`", id)
}

// sameRetention compares two retention periods ("1d" equals "24h"); an
// unparsable one compares as written.
func sameRetention(a, b string) bool {
	da, ea := parseRetention(a)
	db, eb := parseRetention(b)
	if ea != nil || eb != nil {
		return a == b
	}
	return da == db
}

func parseRetention(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("bad period %q", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil {
		return 0, err
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, fmt.Errorf("bad unit in %q", s)
	}
	return time.Duration(n) * unit, nil
}
