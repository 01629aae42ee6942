package store

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	metricIngest = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_store_ingest_total",
		Help: "Objects handed to the store, by result (stored, duplicate, conflict, invalid, error).",
	}, []string{"result"})
	metricBytes = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_store_ingest_bytes_total",
		Help: "Bytes of objects stored (new files only).",
	})
	metricLatency = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "sonolink_store_ingest_duration_seconds",
		Help:    "Time from Ingest call to durable index entry.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	metricFsync = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "sonolink_store_fsync_duration_seconds",
		Help:    "Duration of each fsync of a stored file or directory.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	metricMissing = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_store_missing_objects",
		Help: "Indexed objects whose file was missing at the last start-up check.",
	})
)
