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
		Help: "Indexed objects whose file was missing at the last scrub pass.",
	})
)

// The scrub (scrub.go).
var (
	metricScrubChecked = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_store_scrub_checked_total",
		Help: "Index entries and object files the scrub has looked at.",
	})
	metricScrubFindings = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_store_scrub_findings_total",
		Help: "What the scrub found, by kind (missing, found, reindexed, unreadable, incomplete, temp_removed).",
	}, []string{"kind"})
	metricScrubBusy = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_store_scrub_busy_seconds_total",
		Help: "Time the scrub spent working (not resting between batches).",
	})
	metricScrubLast = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_store_scrub_last_finished_timestamp_seconds",
		Help: "When the last scrub pass finished (Unix time; 0: none yet).",
	})
	metricScrubProblems = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_store_scrub_problems",
		Help: "What the last scrub pass left wrong: entries without a file plus files that cannot be indexed.",
	})
)

// scrubCount counts a batch's findings.
func scrubCount(r ScrubResult) {
	metricScrubChecked.Add(float64(r.Checked))
	for kind, n := range map[string]int{"missing": r.Missing, "found": r.Found, "reindexed": r.Reindexed,
		"unreadable": r.Unreadable, "incomplete": r.Incomplete, "temp_removed": r.TempRemoved} {
		if n > 0 {
			metricScrubFindings.WithLabelValues(kind).Add(float64(n))
		}
	}
}

// scrubReport sets the gauges of a finished pass.
func scrubReport(r ScrubResult) {
	metricMissing.Set(float64(r.Missing))
	metricScrubLast.Set(float64(r.Finished.Unix()))
	metricScrubProblems.Set(float64(r.Problems()))
}

// The search index's background build (search.go).
var (
	metricSearchReady = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_store_search_index_ready",
		Help: "1 when the search index is built; 0 while it is being built in the background (searches read every study meanwhile).",
	})
	metricSearchBuilt = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_store_search_index_build_studies",
		Help: "Studies the running background build of the search index has indexed so far.",
	})
)
