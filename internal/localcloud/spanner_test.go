package localcloud_test

import (
	"context"
	"strings"
	"testing"
	"time"

	instance "cloud.google.com/go/spanner/admin/instance/apiv1"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// With emulators, Spanner is the real emulator: it answers admin calls at
// the endpoint the cloud reports, and the env file points clients at it.
func TestSpannerEmulator(t *testing.T) {
	c := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeEmulators, Services: []localcloud.Service{localcloud.ServiceSpanner}})
	addr := c.Endpoints().Spanner
	if addr == "" {
		t.Fatal("no Spanner endpoint")
	}
	if d := c.Describe(); !strings.Contains(d, "spanner: Spanner emulator") || !strings.Contains(d, addr) {
		t.Errorf("Describe: %q", d)
	}
	if !strings.Contains(strings.Join(c.Environ(), "\n"), "SPANNER_EMULATOR_HOST="+addr) {
		t.Errorf("Environ: %v", c.Environ())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := instance.NewInstanceAdminClient(ctx, option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ListInstanceConfigs(ctx, &instancepb.ListInstanceConfigsRequest{Parent: "projects/" + c.Project()}).Next(); err != nil {
		t.Errorf("listing instance configs: %v", err)
	}
}

// Spanner has no in-process fake: with fakes there is no Spanner.
func TestSpannerNotInFakes(t *testing.T) {
	c := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeFakes, Services: []localcloud.Service{localcloud.ServiceSpanner}})
	if ep := c.Endpoints().Spanner; ep != "" {
		t.Errorf("fakes mode has a Spanner endpoint %q", ep)
	}
}
