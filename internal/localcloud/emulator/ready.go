package emulator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// HTTPReady returns a ReadyFunc that GETs http://addr<path> and wants status
// 200 and, if want is not empty, a body that is want after trimming space.
// The Pub/Sub emulator answers "Ok" on "/".
func HTTPReady(path, want string) ReadyFunc {
	return func(ctx context.Context, addr string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		if want != "" && strings.TrimSpace(string(body)) != want {
			return fmt.Errorf("GET %s: got %q, want %q", path, strings.TrimSpace(string(body)), want)
		}
		return nil
	}
}

// GRPCReady returns a ReadyFunc that makes one gRPC call (a health check)
// over a plaintext connection. Any answer from a gRPC server counts as
// ready, including Unimplemented (the Spanner and Bigtable emulators do not
// serve the health service); only Unavailable and timeouts do not.
func GRPCReady() ReadyFunc {
	return func(ctx context.Context, addr string) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			return err
		}
		return nil
	}
}
