package dimse

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"sonolink/internal/testenv"
)

// metricValue sums the counter, gauge or histogram-count values of c.
func metricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Counter != nil:
			sum += d.Counter.GetValue()
		case d.Gauge != nil:
			sum += d.Gauge.GetValue()
		case d.Histogram != nil:
			sum += float64(d.Histogram.GetSampleCount())
		}
	}
	return sum
}

func TestMetricsMove(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := map[string]float64{
		"accepted": metricValue(t, metricAssociations.WithLabelValues("accepted")),
		"rejected": metricValue(t, metricAssociations.WithLabelValues("rejected")),
		"success":  metricValue(t, metricObjects.WithLabelValues("success")),
		"bytes":    metricValue(t, metricBytes),
		"latency":  metricValue(t, metricStoreLatency),
		"called":   metricValue(t, metricFailures.WithLabelValues(failRejectCalledAE)),
	}
	src := filepath.Join(testenv.Samples(t), "sc/orthanc__ColorTestMalaterre.dcm")
	if st, err := StoreFile(ctx, ts.addr, "M", "SONOLINK", src); err != nil || st != StatusSuccess {
		t.Fatalf("store: %v %v", st, err)
	}
	Echo(ctx, ts.addr, "M", "NOPE")
	after := func(name string, c prometheus.Collector) float64 { return metricValue(t, c) - before[name] }
	if d := after("accepted", metricAssociations.WithLabelValues("accepted")); d < 1 {
		t.Errorf("accepted associations +%v", d)
	}
	if d := after("rejected", metricAssociations.WithLabelValues("rejected")); d < 1 {
		t.Errorf("rejected associations +%v", d)
	}
	if d := after("called", metricFailures.WithLabelValues(failRejectCalledAE)); d < 1 {
		t.Errorf("called-AE failures +%v", d)
	}
	if d := after("success", metricObjects.WithLabelValues("success")); d < 1 {
		t.Errorf("objects +%v", d)
	}
	if d := after("bytes", metricBytes); d < 5000 {
		t.Errorf("bytes +%v", d)
	}
	if d := after("latency", metricStoreLatency); d < 1 {
		t.Errorf("latency observations +%v", d)
	}
}
