package managed

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An error wrapped with CreateAccepted is still classified by its cloud
// code and message, and is recognised through further wrapping.
func TestCreateAcceptedKeepsTheCloudError(t *testing.T) {
	err := fmt.Errorf("pass: %w", CreateAccepted(status.Error(codes.DeadlineExceeded, "creating x did not finish")))
	if !isCreateAccepted(err) {
		t.Error("not recognised as accepted")
	}
	if got := CloudCode(err); got != codes.DeadlineExceeded {
		t.Errorf("code %v", got)
	}
	if got := CloudMessage(err); got != "DeadlineExceeded: creating x did not finish" {
		t.Errorf("message %q", got)
	}
	if CreateAccepted(nil) != nil || isCreateAccepted(status.Error(codes.Internal, "x")) {
		t.Error("nil or plain errors taken as accepted")
	}
}
