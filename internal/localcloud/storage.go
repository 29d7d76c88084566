package localcloud

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// storageService is fake-gcs-server, in process, behind storageFix (a thin
// proxy that keeps the bucket fields the fake drops). There is no Google
// emulator for Cloud Storage, so every mode uses it.
type storageService struct {
	fake *fakestorage.Server
	fix  *http.Server
	addr string // host:port of the proxy, what clients use
}

func startStorage(_ context.Context, opts Options, log *slog.Logger) (service, error) {
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:     "http",
		Host:       "127.0.0.1",
		Port:       0, // a free port: only the proxy talks to it
		NoListener: false,
		Writer:     io.Discard,
	})
	if err != nil {
		return nil, fmt.Errorf("start fake-gcs-server: %w", err)
	}
	target, err := url.Parse(fake.URL())
	if err != nil {
		fake.Stop()
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.StoragePort)))
	if err != nil {
		fake.Stop()
		return nil, fmt.Errorf("storage port: %w", err)
	}
	srv := &http.Server{Handler: newStorageFix(target), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
			log.Error("storage proxy stopped", "err", err)
		}
	}()
	return &storageService{fake: fake, fix: srv, addr: l.Addr().String()}, nil
}

func (s *storageService) describe() string {
	impl := "fake-gcs-server"
	if v := moduleVersion("github.com/fsouza/fake-gcs-server"); v != "" {
		impl += " " + v
	}
	return fmt.Sprintf("storage: %s (in-process fake, with infraplane's field-keeping proxy) at http://%s/storage/v1/, JSON API; in-memory: lost on restart", impl, s.addr)
}

func (s *storageService) setEndpoints(e *Endpoints) { e.Storage = "http://" + s.addr + "/storage/v1/" }

func (s *storageService) output(int) string { return "" }

func (s *storageService) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.fix.Shutdown(ctx)
	s.fake.Stop()
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}
