package storage

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// Bucket names are global, and Cloud Storage says which project a bucket
// belongs to only by number. A ProviderConfig usually names its project
// by id: its number is then asked of Cloud Storage itself, once per
// ProviderConfig version (the client cache's key), from the project's
// Cloud Storage service agent, service-NUMBER@gs-project-accounts…
// (projects.serviceAccount.get: the same endpoint and credentials as the
// buckets; Google documents resourcemanager.projects.get on the project
// as its permission, which Cloud Storage's roles list for grants on the
// project). Where the number is neither set nor found, a
// bucket is managed only if it carries this very object's ownership label
// (confirm).

// lookupRetry is how long a failed lookup answers for itself before the
// next reconcile asks again: a denied lookup is not asked for at every
// reconcile of every bucket.
const lookupRetry = time.Minute

// serviceAgent is a Cloud Storage service agent's address.
var serviceAgent = regexp.MustCompile(`^service-([0-9]{1,20})@gs-project-accounts\.iam\.gserviceaccount\.com$`)

// projectNumber is one ProviderConfig version's project number as found
// (or not) by the lookup.
type projectNumber struct {
	found atomic.Value // string: the number, once found

	mu  sync.Mutex // one lookup at a time; guards err and at
	err error
	at  time.Time
}

// known is the number found so far ("" if none), without waiting.
func (pn *projectNumber) known() string {
	n, _ := pn.found.Load().(string)
	return n
}

// lookup returns the project's number: the ProviderConfig's when it says
// it, else the one Cloud Storage names (cached), else why it is unknown.
func (pn *projectNumber) lookup(ctx context.Context, cl *gcs.Client, p *provider.Config) (string, error) {
	if p.ProjectNumber != "" {
		return p.ProjectNumber, nil
	}
	if n := pn.known(); n != "" {
		return n, nil
	}
	pn.mu.Lock()
	defer pn.mu.Unlock()
	if n := pn.known(); n != "" {
		return n, nil
	}
	if pn.err != nil && time.Since(pn.at) < lookupRetry {
		return "", pn.err
	}
	email, err := cl.ServiceAccount(ctx, p.ProjectID)
	if ctx.Err() != nil {
		// This reconcile ran out of time: not the project's answer.
		return "", fmt.Errorf("asking Cloud Storage for project %s's service agent: %w", p.ProjectID, ctx.Err())
	}
	pn.err, pn.at = nil, time.Now()
	logger := log.FromContext(ctx).WithValues("providerConfig", p.Name, "project", p.ProjectID)
	if err != nil {
		pn.err = fmt.Errorf("asking Cloud Storage for project %s's service agent failed: %s", p.ProjectID, managed.CloudMessage(err))
	} else if n, perr := numberOf(email); perr != nil {
		pn.err = fmt.Errorf("Cloud Storage's answer for project %s's service agent: %w", p.ProjectID, perr)
	} else {
		logger.Info("project number found: buckets are compared with it", "projectNumber", n)
		pn.found.Store(n)
		return n, nil
	}
	logger.Info("project number not found: only buckets carrying their object's ownership label are managed; set spec.projectNumber", "error", pn.err.Error())
	return "", pn.err
}

// numberOf reads the project number from a service agent's address. The
// answer is untrusted: anything but that exact form is an error, quoted
// short.
func numberOf(email string) (string, error) {
	m := serviceAgent.FindStringSubmatch(email)
	if m == nil {
		return "", fmt.Errorf("%.80q is not a service agent's address (service-NUMBER@gs-project-accounts.iam.gserviceaccount.com)", email)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil || n == 0 {
		return "", fmt.Errorf("%q holds no valid project number", email)
	}
	return strconv.FormatUint(n, 10), nil
}

// verdict is what a bucket's project number (want: the ProviderConfig's,
// "" when unknown) and its labels say.
type verdict int

const (
	ours         verdict = iota // the project's by number, or this object's own by label
	otherProject                // another project's, by number
	unconfirmed                 // a number is unknown and the label is not this object's
)

func (c *bucketClient) judge(want string, got *gcs.BucketAttrs) verdict {
	if want != "" && got.ProjectNumber != 0 {
		if strconv.FormatUint(got.ProjectNumber, 10) == want {
			return ours
		}
		return otherProject
	}
	if got.Labels[managed.OwnerLabelKey] == c.env.Owner {
		return ours // this object's own: made (or labelled) by it
	}
	return unconfirmed
}

// confirm says whether this object may manage the bucket got: it is of the
// ProviderConfig's project by number, or, where a number is unknown, it
// carries this object's ownership label. Any other bucket is refused with
// what a person can do; the refusal comes before any write.
func (c *bucketClient) confirm(ctx context.Context, got *gcs.BucketAttrs) error {
	p := c.env.Provider
	want, lookupErr := c.cn.project.lookup(ctx, c.cn.gcs, p)
	switch c.judge(want, got) {
	case ours:
		return nil
	case otherProject:
		return status.Errorf(codes.PermissionDenied,
			"bucket %s belongs to project number %d, not to project %s (number %s) of ProviderConfig %q: a bucket of another project is never adopted, changed or deleted; nothing was changed",
			c.id, got.ProjectNumber, p.ProjectID, want, p.Name)
	}
	why := "Cloud Storage did not say which project the bucket belongs to"
	if lookupErr != nil {
		why = lookupErr.Error()
	}
	return status.Errorf(codes.PermissionDenied,
		"bucket %s: its project could not be confirmed to be %s (%s), and it does not carry this object's ownership label %s=%s: a bucket that may be another project's is never adopted, changed or deleted; set spec.projectNumber on ProviderConfig %q; nothing was changed",
		c.id, p.ProjectID, why, managed.OwnerLabelKey, c.env.Owner, p.Name)
}

// confirmedListed is confirm for a listed bucket, without a cloud call: a
// number not looked up yet confirms nothing (the reconciler then reads
// the bucket with a Get, which looks it up).
func (c *bucketClient) confirmedListed(got *gcs.BucketAttrs) bool {
	want := c.env.Provider.ProjectNumber
	if want == "" {
		want = c.cn.project.known()
	}
	return c.judge(want, got) == ours
}
