package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics (default registry). Labels never carry identifiers.
var (
	mInternalErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_pipeline_internal_errors_total",
		Help: "Objects marked residual because processing them panicked, by stage (de-identification, render).",
	}, []string{"stage"})
	mRetries = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_pipeline_retries_total",
		Help: "Objects left pending after a storage or I/O fault, to be tried again.",
	})
)
