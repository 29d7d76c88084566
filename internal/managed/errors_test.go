package managed

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCloudErrorsAreClassified(t *testing.T) {
	grpcNotFound := status.Error(codes.NotFound, "Resource not found (resource=orders).")
	wrapped := fmt.Errorf("creating: %w", status.Error(codes.InvalidArgument, "bad label"))
	httpConflict := &googleapi.Error{Code: 409, Message: "You already own this bucket."}
	for _, tc := range []struct {
		err       error
		code      codes.Code
		permanent bool
		message   string
	}{
		{grpcNotFound, codes.NotFound, true, "NotFound: Resource not found"},
		{wrapped, codes.InvalidArgument, true, "InvalidArgument: bad label"},
		{httpConflict, codes.AlreadyExists, true, "AlreadyExists: You already own this bucket."},
		{status.Error(codes.Unavailable, "connection refused"), codes.Unavailable, false, "Unavailable"},
		{&googleapi.Error{Code: 503}, codes.Unavailable, false, "Service Unavailable"},
		{errors.New("dial tcp: timeout"), codes.Unknown, false, "dial tcp"},
	} {
		if got := CloudCode(tc.err); got != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err, got, tc.code)
		}
		if got := isPermanent(tc.err); got != tc.permanent {
			t.Errorf("%v: permanent %v, want %v", tc.err, got, tc.permanent)
		}
		if got := CloudMessage(tc.err); !strings.Contains(got, tc.message) {
			t.Errorf("%v: message %q should contain %q", tc.err, got, tc.message)
		}
	}
}

func TestJitterStaysWithinTenPercent(t *testing.T) {
	for range 1000 {
		d := jitter(time.Minute)
		if d < 54*time.Second || d > 66*time.Second {
			t.Fatalf("jitter(1m) = %v", d)
		}
	}
}
