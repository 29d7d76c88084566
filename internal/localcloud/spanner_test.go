package localcloud_test

import (
	"context"
	"os"
	"os/exec"
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

	// gcloud speaks REST: the env file points it at the emulator's REST
	// gateway, and it sees what the Go client (gRPC) made.
	t.Run("gcloud", func(t *testing.T) {
		cloudtest.RequireTool(t, "gcloud")
		if c.Endpoints().SpannerREST == "" {
			t.Fatalf("no REST gateway: %s", c.Describe())
		}
		envFile := cloudtest.EnvFile(t, c)
		op, err := admin.CreateInstance(ctx, &instancepb.CreateInstanceRequest{
			Parent: "projects/" + c.Project(), InstanceId: "from-go",
			Instance: &instancepb.Instance{Config: "projects/" + c.Project() + "/instanceConfigs/emulator-config", DisplayName: "from go", NodeCount: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := op.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		// A fresh gcloud config directory: no account, no project.
		cmd := exec.Command("sh", "-c", `. "$1" && exec gcloud spanner instances list --format='value(name)'`, "sh", envFile)
		cmd.Env = append(os.Environ(), "CLOUDSDK_CONFIG="+t.TempDir(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("gcloud spanner instances list:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "from-go") {
			t.Errorf("gcloud does not list the instance the Go client made")
		}
	})
}

// Spanner has no in-process fake: with fakes there is no Spanner.
func TestSpannerNotInFakes(t *testing.T) {
	c := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeFakes, Services: []localcloud.Service{localcloud.ServiceSpanner}})
	if ep := c.Endpoints().Spanner; ep != "" {
		t.Errorf("fakes mode has a Spanner endpoint %q", ep)
	}
}
