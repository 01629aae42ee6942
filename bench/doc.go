// Package bench holds sonolink's benchmarks against its peers (DCMTK,
// Orthanc, GDCM). They run binaries side by side on loopback and report
// figures with b.ReportMetric; run them with `make bench`.
package bench
