package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/infraplane/infraplane/internal/controllers"
)

// addControllerTuning adds the flags `up` and `controller` share.
func addControllerTuning(fl *pflag.FlagSet, o *controllers.Options, resync time.Duration, qps float64) {
	fl.DurationVar(&o.ResyncInterval, "resync-interval", resync, "how often each object's cloud resource is read to detect drift (spec.resyncInterval overrides it per object)")
	fl.IntVar(&o.Concurrency, "concurrency", 10, "objects of each kind reconciled at once")
	fl.Float64Var(&o.CloudQPS, "cloud-qps", qps, "cloud API calls per second per ProviderConfig and service; 0 means no limit")
	fl.IntVar(&o.CloudBurst, "cloud-burst", 0, "burst for --cloud-qps (default: qps+1)")
}
