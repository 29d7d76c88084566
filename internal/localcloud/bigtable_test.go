package localcloud_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// The local Bigtable is the emulator in ModeEmulators and bttest in
// ModeFakes; both serve table admin at the endpoint the cloud reports.
func TestBigtableService(t *testing.T) {
	for _, tc := range []struct {
		mode localcloud.Mode
		impl string
	}{
		{localcloud.ModeFakes, "bttest"},
		{localcloud.ModeEmulators, "Bigtable emulator"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			c := cloudtest.Start(t, localcloud.Options{Mode: tc.mode, Services: []localcloud.Service{localcloud.ServiceBigtable}})
			ep := c.Endpoints()
			if ep.Bigtable == "" || ep.PubSub != "" {
				t.Fatalf("endpoints %+v: want Bigtable only", ep)
			}
			if d := c.Describe(); !strings.Contains(d, tc.impl) {
				t.Errorf("describe %q does not name %s", d, tc.impl)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			admin, err := bigtable.NewAdminClient(ctx, project, "some-instance", option.WithEndpoint(ep.Bigtable),
				option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if err := admin.CreateTable(ctx, "t1"); err != nil {
				t.Fatalf("CreateTable: %v", err)
			}
			tables, err := admin.Tables(ctx)
			if err != nil || !slices.Contains(tables, "t1") {
				t.Fatalf("Tables: %v %v", tables, err)
			}
		})
	}
}
