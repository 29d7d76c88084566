package webhookcert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Source provides the serving certificate (in its directory) and the CA
// bundle. Ensure makes them ready before the webhook server starts; Start
// (a manager runnable, on every replica) keeps them current and sends a
// new bundle on Rotated.
type Source interface {
	Ensure(ctx context.Context) ([]byte, error)
	Start(ctx context.Context) error
	NeedLeaderElection() bool
	Rotated() <-chan []byte
}

// DefaultSecret is the Secret a SelfManaged source keeps, in the
// controller's namespace.
const DefaultSecret = "infraplane-webhook-certs"

// ManagedByLabel marks the Secret as the controller's.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// SelfManaged keeps a CA and a serving certificate in a Secret and the
// certificate in Dir. Every replica runs one: whichever first finds
// something missing or due writes the Secret (with an optimistic lock, so
// a replica that lost the race reads the winner's), and each writes what
// the Secret holds to its own Dir.
type SelfManaged struct {
	// Client reads and writes the Secret, past any cache.
	Client client.Client
	// Namespace and Name of the Secret.
	Namespace, Name string
	// Names the serving certificate is for.
	Names Names
	// Dir is where the webhook server reads tls.crt and tls.key.
	Dir string
	// Lifetimes (DefaultLifetimes when zero).
	Lifetimes Lifetimes
	// Every is how often the Secret is checked (10 min when zero): far
	// more often than Lifetimes.Publish.
	Every time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	rotation
	mu     sync.Mutex
	bundle []byte
}

// +kubebuilder:rbac:groups="",namespace=infraplane-system,resources=secrets,verbs=create
// +kubebuilder:rbac:groups="",namespace=infraplane-system,resources=secrets,resourceNames=infraplane-webhook-certs,verbs=get;update

// Ensure makes sure the Secret holds a valid CA and serving certificate,
// writes the certificate to Dir, and returns the CA bundle.
func (s *SelfManaged) Ensure(ctx context.Context) ([]byte, error) {
	b, err := s.sync(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.bundle = b
	s.mu.Unlock()
	return b, nil
}

// Start checks the Secret every s.Every until ctx ends; a changed bundle
// (a CA made or retired, by this replica or another) goes to Rotated.
func (s *SelfManaged) Start(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		b, err := s.sync(ctx)
		if err != nil {
			// The certificate on disk stays valid for weeks: try again.
			slog.Error("webhook certificate: checking the Secret failed", "secret", s.Namespace+"/"+s.Name, "err", err)
			continue
		}
		s.publish(b)
	}
}

// NeedLeaderElection is false: every replica serves the webhook.
func (s *SelfManaged) NeedLeaderElection() bool { return false }

func (s *SelfManaged) publish(b []byte) {
	s.mu.Lock()
	same := bytes.Equal(b, s.bundle)
	s.bundle = b
	s.mu.Unlock()
	if !same {
		slog.Info("webhook certificate: the CA bundle changed", "secret", s.Namespace+"/"+s.Name)
		s.send(b)
	}
}

// rotation is the Rotated channel: it holds the newest bundle only.
type rotation struct {
	once sync.Once
	ch   chan []byte
}

// Rotated delivers each new CA bundle.
func (r *rotation) Rotated() <-chan []byte { return r.c() }

func (r *rotation) c() chan []byte {
	r.once.Do(func() { r.ch = make(chan []byte, 1) })
	return r.ch
}

// send replaces whatever bundle is waiting with b.
func (r *rotation) send(b []byte) {
	ch := r.c()
	for {
		select {
		case ch <- b:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// sync reads the Secret, renews what is due (creating or updating it) and
// writes the serving certificate to Dir. A lost race is read again.
func (s *SelfManaged) sync(ctx context.Context) ([]byte, error) {
	l := s.Lifetimes
	if l == (Lifetimes{}) {
		l = DefaultLifetimes
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	key := client.ObjectKey{Namespace: s.Namespace, Name: s.Name}
	for range 5 {
		sec := &corev1.Secret{}
		err := s.Client.Get(ctx, key, sec)
		exists := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, s.explain("reading", err)
		}
		data, changed, err := renew(sec.Data, now(), s.Names, l)
		if err != nil {
			return nil, fmt.Errorf("webhook certificate: %w", err)
		}
		if changed {
			switch {
			case !exists:
				sec = &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, Labels: map[string]string{ManagedByLabel: "infraplane"}},
					Type:       corev1.SecretTypeTLS,
					Data:       data,
				}
				err = s.Client.Create(ctx, sec)
			default:
				sec.Data = data
				err = s.Client.Update(ctx, sec) // resourceVersion: fails if another replica wrote first
			}
			if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
				continue // another replica won: use what it wrote
			}
			if err != nil {
				return nil, s.explain("writing", err)
			}
			slog.Info("webhook certificate: renewed", "secret", s.Namespace+"/"+s.Name)
		}
		if err := writeFiles(s.Dir, data[keyCert], data[keyKey]); err != nil {
			return nil, err
		}
		return bundle(data), nil
	}
	return nil, fmt.Errorf("webhook certificate: Secret %s/%s kept changing while it was renewed; will try again", s.Namespace, s.Name)
}

func (s *SelfManaged) explain(what string, err error) error {
	msg := fmt.Sprintf("webhook certificate: %s Secret %s/%s: %v", what, s.Namespace, s.Name, err)
	if apierrors.IsForbidden(err) {
		msg += " (the controller's Role in its namespace must allow create, and get and update on this Secret: config/rbac/controller; " +
			"or use certificates from files: --webhook-certs=files, docs/operations.md)"
	}
	return errors.New(msg)
}

// writeFiles puts the serving certificate in dir, each file replaced at
// once (the webhook server's watcher never reads half a file), and only
// when it changed.
func writeFiles(dir string, cert, key []byte) error {
	if len(cert) == 0 || len(key) == 0 {
		return errors.New("webhook certificate: the Secret has no tls.crt or tls.key")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("webhook certificate directory: %w", err)
	}
	// Key first: the watcher reloads on the certificate's change.
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyFile, key}, {CertFile, cert}} {
		p := filepath.Join(dir, f.name)
		if have, err := os.ReadFile(p); err == nil && bytes.Equal(have, f.data) {
			continue
		}
		tmp, err := os.CreateTemp(dir, "."+f.name+"-")
		if err != nil {
			return fmt.Errorf("webhook certificate directory: %w", err)
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), p); err != nil {
			os.Remove(tmp.Name())
			return err
		}
	}
	return nil
}

// Files reads a mounted certificate (cert-manager's Secret: tls.crt,
// tls.key) from Dir, and the CA bundle from CAFile; a changed CAFile (a
// renewed CA) goes to Rotated. The webhook server reloads the certificate
// itself.
type Files struct {
	Dir, CAFile string
	// Every is how often CAFile is read again (a minute when zero).
	Every time.Duration

	rotation
	last []byte
}

// Ensure checks the certificate is there and returns the bundle.
func (f *Files) Ensure(context.Context) ([]byte, error) {
	for _, n := range []string{CertFile, KeyFile} {
		if _, err := os.Stat(filepath.Join(f.Dir, n)); err != nil {
			return nil, fmt.Errorf("webhook certificate: %v: mount the certificate's Secret at --webhook-cert-dir (config/cert-manager), or let the controller make its own (--webhook-certs=self-managed)", err)
		}
	}
	b, err := f.read()
	if err != nil {
		return nil, err
	}
	f.last = b
	return b, nil
}

func (f *Files) read() ([]byte, error) {
	b, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("webhook CA bundle: %v: set --webhook-ca-file to the CA that signed the certificate (cert-manager puts it in the Secret's ca.crt)", err)
	}
	if err := checkBundle(b); err != nil {
		return nil, fmt.Errorf("webhook CA bundle %s: %v", f.CAFile, err)
	}
	return b, nil
}

// Start reads CAFile every f.Every until ctx ends.
func (f *Files) Start(ctx context.Context) error {
	every := f.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		b, err := f.read()
		if err != nil {
			slog.Error("webhook certificate", "err", err)
			continue
		}
		if !bytes.Equal(b, f.last) {
			f.last = b
			slog.Info("webhook certificate: the CA bundle changed", "file", f.CAFile)
			f.send(b)
		}
	}
}

// NeedLeaderElection is false: every replica serves the webhook.
func (f *Files) NeedLeaderElection() bool { return false }
