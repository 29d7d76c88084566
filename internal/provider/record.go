package provider

import (
	"time"

	"google.golang.org/grpc/status"
)

// RecordCall counts and times one cloud call made without gRPC (e.g. a SQL
// statement sent to PostgreSQL), in the same metrics as GRPCOptions'
// interceptor. err should carry a gRPC status code (status.Code of it is
// the metric's code label).
func RecordCall(service, method string, err error, took time.Duration) {
	cloudCallSeconds.WithLabelValues(service, method).Observe(took.Seconds())
	cloudCallsTotal.WithLabelValues(service, method, status.Code(err).String()).Inc()
}
