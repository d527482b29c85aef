package audit_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/audit"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// countingWriter discards what it is given and counts it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// exportPeak exports the records of org matching f as CSV and returns how
// many were written and the highest live heap above the starting point,
// sampled every tenth batch.
func exportPeak(t testing.TB, s *audit.Service, org string, f audit.Filter) (int, uint64) {
	t.Helper()
	out := &countingWriter{}
	enc, err := audit.NewEncoder(audit.CSV, out)
	if err != nil {
		t.Fatal(err)
	}
	start := liveHeap()
	var peak uint64
	rows, batches := 0, 0
	err = s.Export(context.Background(), org, f, func(b []audit.Record) error {
		for i := range b {
			if err := enc.Write(&b[i]); err != nil {
				return err
			}
		}
		rows += len(b)
		if batches++; batches%10 == 1 {
			if h := liveHeap(); h > start {
				peak = max(peak, h-start)
			}
		}
		return enc.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, peak
}

// TestExportMemoryIsBounded exports 10 000 and then 100 000 records: the
// live heap during the export stays within a few batches' worth and does
// not grow with the number of records.
func TestExportMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 110 000 rows")
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		org := seedOrg(t, d)
		bulkInsert(t, d, org, "team.created", 10_000)
		bulkInsert(t, d, org, "user.updated", 90_000)
		s := audit.New(d)
		small, smallPeak := exportPeak(t, s, org, audit.Filter{
			EventTypes: []string{"team.created"}})
		large, largePeak := exportPeak(t, s, org, audit.Filter{})
		t.Logf("peak live heap above start: %d rows %d KiB, %d rows %d KiB",
			small, smallPeak>>10, large, largePeak>>10)
		if small != 10_000 || large != 100_000 {
			t.Fatalf("exported %d and %d rows", small, large)
		}
		const slack = 4 << 20
		if largePeak > smallPeak+slack || largePeak > 16<<20 {
			t.Fatalf("peak grows with the rows: %d KiB for 10k, %d KiB for 100k",
				smallPeak>>10, largePeak>>10)
		}
	})
}

// BenchmarkExport streams 100 000 records as CSV per iteration and
// reports the peak live heap above the starting point.
func BenchmarkExport(b *testing.B) {
	d := dbtest.Open(b, db.Postgres)
	org := seedOrg(b, d)
	bulkInsert(b, d, org, "user.updated", 100_000)
	s := audit.New(d)
	var peak uint64
	for b.Loop() {
		_, p := exportPeak(b, s, org, audit.Filter{})
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak), "peak-heap-bytes")
}
