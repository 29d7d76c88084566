// Package kubecheckpoint keeps the audit ledger's checkpoint in a
// Kubernetes ConfigMap, infraplane-ledger-checkpoint in the controller's
// namespace (infraplane-system for `infraplane up`): the seq and hash of
// the ledger's last entry, moved forward as the ledger grows, and read
// back by `infraplane audit --verify`. The API server is not the ledger's
// storage: whoever can rewrite the ledger file or table cannot move the
// ConfigMap back without the Kubernetes credentials, and the API server's
// audit log records every write to it.
//
// It lives outside package ledger so that the ledger does not depend on
// client-go.
package kubecheckpoint

// The checkpoint ConfigMap lives in the controller's namespace.
// +kubebuilder:rbac:groups="",namespace=infraplane-system,resources=configmaps,verbs=create
// +kubebuilder:rbac:groups="",namespace=infraplane-system,resources=configmaps,resourceNames=infraplane-ledger-checkpoint,verbs=get;update

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/ledger"
)

// Name is the ConfigMap's name.
const Name = "infraplane-ledger-checkpoint"

// DefaultNamespace is where `infraplane up` keeps it, and where `infraplane
// audit --verify` looks by default.
const DefaultNamespace = "infraplane-system"

// The ConfigMap's data keys.
const (
	keySeq    = "seq"
	keyHash   = "hash"
	keyTime   = "time"
	keyLedger = "ledger"
)

// conflictRetries bounds the optimistic-concurrency retries of one
// publication (replicas publishing at the same moment).
const conflictRetries = 5

// ConfigMap is the checkpoint ConfigMap Name in Namespace: a
// ledger.CheckpointSink and ledger.CheckpointSource. Client should read
// from the API server, not a cache (a cached client would watch every
// ConfigMap of the cluster).
type ConfigMap struct {
	Client    client.Client
	Namespace string
}

// New is the checkpoint ConfigMap of namespace.
func New(c client.Client, namespace string) *ConfigMap {
	return &ConfigMap{Client: c, Namespace: namespace}
}

func (s *ConfigMap) String() string { return "ConfigMap " + s.Namespace + "/" + Name }

// PublishCheckpoint moves the ConfigMap to c, only forward: a later
// checkpoint there (another replica of a shared database ledger is ahead)
// is kept. The read and the update are one optimistic transaction (the
// update names the resourceVersion read): on a conflict it reads again.
// The same seq with another hash is ledger.ErrCheckpointMismatch.
func (s *ConfigMap) PublishCheckpoint(ctx context.Context, c ledger.Checkpoint) error {
	key := client.ObjectKey{Namespace: s.Namespace, Name: Name}
	for range conflictRetries {
		var cm corev1.ConfigMap
		err := s.Client.Get(ctx, key, &cm)
		if apierrors.IsNotFound(err) {
			cm = corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: s.Namespace, Name: Name,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "infraplane"},
					Annotations: map[string]string{"infraplane.dev/description": "The audit ledger's last published entry (seq, hash). " +
						"Only ever moved forward; infraplane audit --verify compares the ledger with it."},
				},
				Data: data(c),
			}
			err = s.Client.Create(ctx, &cm)
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return s.wrap("creating", err)
		}
		if err != nil {
			return s.wrap("reading", err)
		}
		cur, err := parse(&cm)
		if err != nil {
			return fmt.Errorf("%s holds no valid checkpoint (%v): it was edited by hand. Check the ledger with `infraplane audit --verify`, "+
				"then delete the ConfigMap: the next publication creates it again", s, err)
		}
		switch {
		case cur.Seq > c.Seq:
			return nil
		case cur.Seq == c.Seq && cur.Hash == c.Hash:
			return nil
		case cur.Seq == c.Seq:
			return fmt.Errorf("%w: %s holds hash %s for seq %d (published %s), the ledger's entry %d has hash %s: "+
				"the ledger was rewritten, or replaced by a new one", ledger.ErrCheckpointMismatch, s, cur.Hash, c.Seq,
				cur.Time.Format(time.RFC3339), c.Seq, c.Hash)
		}
		cm.Data = data(c)
		err = s.Client.Update(ctx, &cm)
		if apierrors.IsConflict(err) {
			continue
		}
		return s.wrap("updating", err)
	}
	return fmt.Errorf("%s: %d conflicting updates in a row (other writers publishing); trying again at the next interval", s, conflictRetries)
}

func (s *ConfigMap) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s %s: %w (grant the controller's service account get, create and update on configmaps in %s: see docs/gitops.md)",
			what, s, err, s.Namespace)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s: %w (create the namespace, or name another with --ledger-checkpoint-namespace)", what, s, err)
	}
	return fmt.Errorf("%s %s: %w", what, s, err)
}

// Checkpoints yields the ConfigMap's checkpoint; none when there is no
// ConfigMap (none was published yet, or it was deleted).
func (s *ConfigMap) Checkpoints(ctx context.Context) iter.Seq2[ledger.Checkpoint, error] {
	return func(yield func(ledger.Checkpoint, error) bool) {
		var cm corev1.ConfigMap
		err := s.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: Name}, &cm)
		if apierrors.IsNotFound(err) {
			return
		}
		if err != nil {
			yield(ledger.Checkpoint{}, fmt.Errorf("reading %s: %w", s, err))
			return
		}
		c, err := parse(&cm)
		if err != nil {
			err = fmt.Errorf("%s holds no valid checkpoint: %v (edited by hand?)", s, err)
		}
		yield(c, err)
	}
}

func data(c ledger.Checkpoint) map[string]string {
	return map[string]string{
		keySeq:    strconv.FormatUint(c.Seq, 10),
		keyHash:   c.Hash,
		keyTime:   c.Time.UTC().Format(time.RFC3339Nano),
		keyLedger: c.Ledger,
	}
}

func parse(cm *corev1.ConfigMap) (ledger.Checkpoint, error) {
	var c ledger.Checkpoint
	var err error
	if c.Seq, err = strconv.ParseUint(cm.Data[keySeq], 10, 64); err != nil || c.Seq == 0 {
		return c, fmt.Errorf("%s %q is not a positive number", keySeq, cm.Data[keySeq])
	}
	c.Hash = cm.Data[keyHash]
	if len(c.Hash) != 64 {
		return c, fmt.Errorf("%s %q is not a SHA-256 in hex", keyHash, c.Hash)
	}
	if c.Time, err = time.Parse(time.RFC3339Nano, cm.Data[keyTime]); err != nil {
		return c, fmt.Errorf("%s: %v", keyTime, err)
	}
	c.Ledger = cm.Data[keyLedger]
	return c, nil
}

// Publisher publishes a Ledger's checkpoints to a ConfigMap while a
// controller-runtime manager runs (a manager.Runnable), on every replica:
// each knows only its own head, and the ConfigMap only moves forward.
type Publisher struct {
	Ledger *ledger.Ledger
	Sink   *ConfigMap
	// Interval is how often the head is checked (0: the ledger's default).
	Interval time.Duration
}

// Start publishes until ctx ends, and once more then (Ledger.PublishCheckpoints).
func (p Publisher) Start(ctx context.Context) error {
	if p.Ledger == nil || p.Sink == nil {
		return errors.New("kubecheckpoint: a Publisher needs a Ledger and a Sink")
	}
	p.Ledger.PublishCheckpoints(ctx, p.Sink, p.Interval)
	return nil
}

// NeedLeaderElection is false: every replica appends, so every replica
// publishes.
func (Publisher) NeedLeaderElection() bool { return false }

var (
	_ ledger.CheckpointSink   = (*ConfigMap)(nil)
	_ ledger.CheckpointSource = (*ConfigMap)(nil)
)
