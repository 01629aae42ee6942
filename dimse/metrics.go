package dimse

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Prometheus metrics, registered on the default registerer. Labels take a
// small fixed set of values (never UIDs, never AE titles).
var (
	metricAssociations = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_dimse_associations_total",
		Help: "Associations by outcome: accepted, rejected (A-ASSOCIATE-RJ), aborted (an accepted association that ended in A-ABORT or a broken connection).",
	}, []string{"result"})
	metricActive = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_dimse_associations_active",
		Help: "Associations currently open.",
	})
	metricObjects = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_dimse_objects_received_total",
		Help: "C-STORE requests answered, by status class (success, warning, failure).",
	}, []string{"status"})
	metricBytes = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_dimse_bytes_received_total",
		Help: "Data set bytes received in C-STORE requests.",
	})
	metricFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_dimse_failures_total",
		Help: "Failures by reason (rejections, malformed PDUs, timeouts, oversize objects, spool and handler failures).",
	}, []string{"reason"})
	metricStoreLatency = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "sonolink_dimse_store_latency_seconds",
		Help:    "C-STORE latency from the last data set fragment received to the response sent.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	metricAssocDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "sonolink_dimse_association_duration_seconds",
		Help:    "Duration of accepted associations.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 18),
	})
)

// Failure reasons (label values of sonolink_dimse_failures_total).
const (
	failRejectCalledAE   = "reject_called_ae"
	failRejectCallingAE  = "reject_calling_ae"
	failRejectPeer       = "reject_peer_address"
	failRejectAppContext = "reject_app_context"
	failRejectProtocol   = "reject_protocol_version"
	failRejectLimit      = "reject_association_limit"
	failRejectPeerLimit  = "reject_peer_association_limit"
	failAccept           = "accept_error"
	failMalformedPDU     = "malformed_pdu"
	failUnexpectedPDU    = "unexpected_pdu"
	failTimeout          = "timeout"
	failPeerAbort        = "peer_abort"
	failConnection       = "connection_error"
	failObjectTooLarge   = "object_too_large"
	failSpool            = "spool_error"
	failHandler          = "handler_failure"
	failHandlerPanic     = "handler_panic"
	failBadContext       = "bad_presentation_context"
	failBadCommand       = "bad_command"
	failShutdown         = "shutdown"
)
