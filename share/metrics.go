package share

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics (default registry). Labels never carry tokens, contacts or IDs.
var (
	mLinksCreated = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_share_links_created_total", Help: "Links issued, by origin (auto, technician).",
	}, []string{"origin"})
	mLinksResent = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_share_links_resent_total", Help: "Links resent.",
	})
	mLinksRevoked = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_share_links_revoked_total", Help: "Links revoked.",
	})
	mMessages = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_share_messages_total", Help: "Delivery attempts by channel (email, sms) and result (sent, retry, failed).",
	}, []string{"channel", "result"})
	mQueueDepth = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_share_outbox_queue_depth", Help: "Messages in the outbox not yet sent or given up.",
	})
	mLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sonolink_share_delivery_latency_seconds", Help: "Time from queueing a message to its provider accepting it.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 15, 60, 300, 1800, 7200},
	}, []string{"channel"})
)
