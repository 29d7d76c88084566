package storage_test

import (
	"context"
	"net"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// An error from the cloud ends up in the Synced condition with the
// cloud's message: here a bucket name that is taken (a 409 on insert),
// reported with what to do. (A bucket of another project is refused
// outright: tenancy_test.go.)
func TestBucketCloudErrorInCondition(t *testing.T) {
	s := newScenario(t)
	// Someone else's bucket with this name already exists, unlabelled.
	if err := s.gcs.Bucket(s.name("taken")).Create(context.Background(), cloud.cloud.Project(), nil); err != nil {
		t.Fatal(err)
	}
	b := s.bucket("taken")
	env.Create(t, b)
	c := env.WaitFor(t, b, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonAlreadyExists)
	if !strings.Contains(c.Message, "spec.adopt") {
		t.Errorf("message should say how to take it over: %q", c.Message)
	}

	// A storage endpoint that does not answer: the transport error is shown.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/storage/v1/"
	l.Close()
	pc := &corev1alpha1.ProviderConfig{}
	pc.Name = "test-storage-down"
	pc.Spec.ProjectID = "down-project"
	pc.Spec.Credentials.Source = corev1alpha1.CredentialsNone
	pc.Spec.Endpoints.Storage = dead
	if err := env.Client.Create(context.Background(), pc); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t, pc.Name)
	down := s.bucket("down")
	down.Namespace = ns
	env.Create(t, down)
	env.WaitForMessage(t, down, commonv1.TypeSynced, "connection refused")
}
