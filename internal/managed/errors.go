package managed

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/infraplane/infraplane/internal/provider"
)

// CloudCode returns the canonical code of a cloud API error, for gRPC
// clients and for HTTP (JSON API) clients alike.
func CloudCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return httpToCode(gerr.Code)
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	// Wrapped gRPC errors (e.g. from gax) expose GRPCStatus through As.
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Code()
	}
	return codes.Unknown
}

// maxCloudMessage bounds the cloud's description of an error as infraplane
// repeats it (conditions, events, logs, the ledger): the endpoint is
// untrusted, Google's own messages are a few hundred bytes, and a condition
// message may not exceed 32 KiB (a longer one would fail the status write
// that reports the error).
const maxCloudMessage = 2 << 10

// CloudMessage is the part of a cloud error a person should read: the
// cloud's own description, with the code name in front, at most
// maxCloudMessage bytes of it.
func CloudMessage(err error) string {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		msg := gerr.Message
		if msg == "" {
			msg = http.StatusText(gerr.Code)
		}
		return httpToCode(gerr.Code).String() + ": " + shorten(msg)
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		s := se.GRPCStatus()
		return s.Code().String() + ": " + shorten(s.Message())
	}
	return shorten(err.Error())
}

// shorten cuts msg to maxCloudMessage bytes (on a rune boundary) and says
// how much was left out.
func shorten(msg string) string {
	if len(msg) <= maxCloudMessage {
		return msg
	}
	cut := maxCloudMessage
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes not shown)", msg[:cut], len(msg)-cut)
}

// describedError is a cloud error as a person reads it (msg, which already
// holds the cloud's shortened description), still wrapping the original
// for errors.Is and As: the original's text would repeat the description
// at full length in every log line.
type describedError struct {
	msg string
	err error
}

func (e describedError) Error() string { return e.msg }
func (e describedError) Unwrap() error { return e.err }

// IsNotFound reports whether a cloud error means the resource is absent.
func IsNotFound(err error) bool { return CloudCode(err) == codes.NotFound }

// IsAlreadyExists reports whether a cloud error means the resource exists.
func IsAlreadyExists(err error) bool { return CloudCode(err) == codes.AlreadyExists }

// isPermanent reports whether retrying the same call soon cannot help: a
// person has to change the spec, a permission or the endpoint. Such errors
// are retried at the resync interval (or at once on a spec change), not
// in a fast backoff loop.
func isPermanent(err error) bool {
	switch CloudCode(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied,
		codes.Unauthenticated, codes.Unimplemented, codes.OutOfRange, codes.NotFound,
		codes.AlreadyExists:
		return true
	}
	return false
}

func httpToCode(c int) codes.Code { return provider.HTTPCode(c) }

// CreateAccepted wraps an error that Create met after the cloud accepted
// the create: the resource exists, or is being made, and is this object's,
// but it is not finished (a long-running operation still runs, or a later
// step failed). The reconciler then records the resource as created
// (status.resourceID), so the next pass takes it as its own and finishes
// it with Update; otherwise a kind whose resources carry no ownership
// label would find it "not created by this object" and refuse it forever.
func CreateAccepted(err error) error {
	if err == nil {
		return nil
	}
	return &createAcceptedError{err}
}

type createAcceptedError struct{ err error }

func (e *createAcceptedError) Error() string { return e.err.Error() }
func (e *createAcceptedError) Unwrap() error { return e.err }

// isCreateAccepted reports whether err was wrapped with CreateAccepted.
func isCreateAccepted(err error) bool {
	var ca *createAcceptedError
	return errors.As(err, &ca)
}
