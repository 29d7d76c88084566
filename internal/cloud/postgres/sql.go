package postgres

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/infraplane/infraplane/internal/provider"
)

// maxNameBytes is PostgreSQL's limit on identifiers (NAMEDATALEN-1). Longer
// names are silently truncated by the server, so they are refused here.
const maxNameBytes = 63

// ident quotes an identifier: double quotes, embedded quotes doubled.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes a string constant for statements that take no bind
// parameters (CREATE/ALTER ROLE … PASSWORD, COMMENT ON, CREATE DATABASE …
// LC_COLLATE). The E'…' form means the same whatever the server's
// standard_conforming_strings is: backslashes and quotes are doubled.
// The connection's client_encoding is always UTF8 (pgx insists), so no
// multi-byte character can swallow the escape. Values holding a NUL
// byte are refused by checkText before they get here.
func literal(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return "E'" + s + "'"
}

// checkName refuses names PostgreSQL would truncate or reject in a way
// that hides what happened.
func checkName(field, name string) error {
	switch {
	case name == "":
		return invalid(field, "empty name")
	case len(name) > maxNameBytes:
		return invalid(field, "%q is %d bytes long; PostgreSQL names are at most %d bytes", name, len(name), maxNameBytes)
	}
	return checkText(field, name)
}

// checkText refuses text that cannot be sent to PostgreSQL.
func checkText(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return invalid(field, "contains a NUL byte or invalid UTF-8")
	}
	return nil
}

// querier is a connection or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// exec runs one write statement, counting it in the cloud call metrics
// under method (e.g. "CREATE DATABASE").
func exec(ctx context.Context, db querier, method, sql string) error {
	start := time.Now()
	_, err := db.Exec(ctx, sql)
	err = cloudError(err)
	provider.RecordCall(Service, method, err, time.Since(start))
	return err
}

// read records one catalogue query in the call metrics.
func read(method string, start time.Time, err error) error {
	err = cloudError(err)
	provider.RecordCall(Service, method, err, time.Since(start))
	return err
}
