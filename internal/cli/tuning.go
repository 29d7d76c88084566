package cli

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/provider"
)

// addControllerTuning adds the flags `up` and `controller` share.
func addControllerTuning(fl *pflag.FlagSet, o *controllers.Options, resync time.Duration, qps float64) {
	fl.DurationVar(&o.ResyncInterval, "resync-interval", resync, "how often each object's cloud resource is read to detect drift (spec.resyncInterval overrides it per object)")
	fl.DurationVar(&o.MinResyncInterval, "min-resync-interval", controllers.DefaultMinResyncInterval, "shortest spec.resyncInterval an object may ask for (a shorter one is raised to it): every team's objects of a kind share its workers")
	fl.IntVar(&o.Concurrency, "concurrency", 10, "objects of each kind reconciled at once")
	fl.Float64Var(&o.CloudQPS, "cloud-qps", qps, "cloud API calls per second per ProviderConfig and service; 0 means no limit")
	fl.IntVar(&o.CloudBurst, "cloud-burst", 0, "burst for --cloud-qps (default: qps+1)")
	fl.DurationVar(&o.CloudReadTimeout, "cloud-read-timeout", provider.DefaultReadTimeout, "deadline of one cloud call that reads; one that runs out of it stops calls to that endpoint (of that ProviderConfig) but for a probe every 5s until it answers")
	fl.DurationVar(&o.CloudWriteTimeout, "cloud-write-timeout", provider.DefaultWriteTimeout, "deadline of one cloud call that writes (long-running operations are polled in calls of their own)")
	fl.StringVar(&o.IAMCredentialsEndpoint, "iam-credentials-endpoint", "",
		"IAM Credentials API base URL that mints the tokens of ProviderConfigs with credentials source ImpersonateServiceAccount (default: Google's, https://iamcredentials.googleapis.com/); called with the controller's own credentials (docs/cloud-identity.md)")
	fl.StringVar(&o.GitOps.DefaultServiceAccount, "default-service-account", gitops.DefaultServiceAccount,
		"ServiceAccount (in each GitSource's own namespace) a GitSource without spec.serviceAccountName applies as, through impersonation: its RBAC decides what a repository may create (docs/tenancy.md)")
	fl.DurationVar(&o.GitOps.Fetch.Timeout, "git-fetch-timeout", gitops.DefaultFetchTimeout, "deadline of one GitSource fetch and checkout; a git server that does not answer within it is asked again at the GitSource's next interval")
	o.GitOps.Fetch.MaxCheckoutSize = gitops.DefaultMaxCheckoutSize
	fl.Var(byteSize{&o.GitOps.Fetch.MaxCheckoutSize}, "git-max-checkout-size", "most a GitSource's commit may hold, all files together (the whole repository, not only spec.path); a commit above it is not checked out (FetchFailed)")
	o.GitOps.Fetch.MaxCheckoutFileSize = gitops.DefaultMaxCheckoutFileSize
	fl.Var(byteSize{&o.GitOps.Fetch.MaxCheckoutFileSize}, "git-max-checkout-file-size", "largest file a GitSource's commit may hold; a commit with a larger one is not checked out (FetchFailed)")
	o.GitOps.Fetch.MaxFetchSize = gitops.DefaultMaxFetchSize
	fl.Var(byteSize{&o.GitOps.Fetch.MaxFetchSize}, "git-max-fetch-size", "most one GitSource fetch may download (a pinned spec.ref.commit fetches the whole history); a fetch above it stops (FetchFailed), and a working copy grown past twice it starts over")
}

// byteSize is a flag of bytes written as a Kubernetes quantity (256Mi).
type byteSize struct{ p *int64 }

func (b byteSize) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return err
	}
	if q.Sign() <= 0 {
		return fmt.Errorf("%s: must be more than 0", s)
	}
	*b.p = q.Value()
	return nil
}

func (b byteSize) String() string {
	if b.p == nil {
		return ""
	}
	return resource.NewQuantity(*b.p, resource.BinarySI).String()
}

func (byteSize) Type() string { return "quantity" }

// addBreakGlassFlags adds the break-glass policy flags `up` and
// `controller` share.
func addBreakGlassFlags(fl *pflag.FlagSet, b *breakglass.Options) {
	fl.DurationVar(&b.MaxDuration, "breakglass-max-duration", breakglass.DefaultMaxDuration, "longest break-glass window allowed (at most 24h)")
	fl.StringSliceVar(&b.AdminGroups, "breakglass-admin-group", nil, "groups whose members may edit GitOps-managed objects directly without a break-glass (recorded all the same); none by default")
}
