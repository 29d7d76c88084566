package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// cloudError turns a PostgreSQL error into a gRPC status error, so the
// generic reconciler classifies it (managed.CloudCode) and shows the
// server's message in the Synced condition.
func cloudError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Detail != "" {
			msg += " (" + pe.Detail + ")"
		}
		return status.Errorf(sqlStateCode(pe.Code), "%s [SQLSTATE %s]", msg, pe.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, err.Error())
	}
	// Anything else from pgx is about reaching the server: connecting,
	// TLS, a connection lost.
	return status.Error(codes.Unavailable, err.Error())
}

// sqlStateCode maps a SQLSTATE to the gRPC code that says what a person
// (or the retry loop) should do about it.
func sqlStateCode(state string) codes.Code {
	switch state {
	case "42P04", "42710": // duplicate_database, duplicate_object
		return codes.AlreadyExists
	case "3D000", "42704": // invalid_catalog_name, undefined_object
		return codes.NotFound
	case "42501": // insufficient_privilege
		return codes.PermissionDenied
	case "22023", "42601", "42602", "42622", "42939", "22021": // invalid parameter, syntax, invalid/too long name, reserved name, bad encoding
		return codes.InvalidArgument
	case "55006", "2BP01", "55000": // object in use, dependent objects, object not in prerequisite state
		return codes.FailedPrecondition
	case "28000", "28P01": // invalid authorization, invalid password
		return codes.Unauthenticated
	case "0A000": // feature_not_supported
		return codes.Unimplemented
	case "53300": // too_many_connections
		return codes.Unavailable
	}
	switch state[:2] {
	case "08", "57": // connection exception, operator intervention (shutdown)
		return codes.Unavailable
	case "53": // insufficient resources
		return codes.ResourceExhausted
	case "22", "42": // data exception, syntax or access rule
		return codes.InvalidArgument
	case "23": // integrity constraint
		return codes.FailedPrecondition
	case "40": // transaction rollback (serialization, deadlock)
		return codes.Aborted
	}
	return codes.Unknown
}

// invalid is an InvalidArgument error naming the field.
func invalid(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}
