package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one scenario.
type Report struct {
	Scenario string
	Workers  int
	Elapsed  time.Duration
	// OK counts 2xx answers the scenario accepted; Throttled counts 429
	// (rate limit) and 503 (password hashing saturated, pool exhausted,
	// draining); Errors counts everything else, transport failures
	// included.
	OK, Throttled, Errors int
	// Statuses counts the answers by label (status code or "transport").
	Statuses map[string]int
	// Latencies are those of the successful requests, sorted.
	Latencies []time.Duration
	// FirstError is the first transport error seen, if any.
	FirstError string
}

// Outcome classes.
const (
	classOK = iota
	classThrottled
	classError
)

// classify sorts an outcome label into its class.
func classify(label string) int {
	switch {
	case label == "429" || label == "503":
		return classThrottled
	case len(label) == 3 && label[0] == '2':
		return classOK
	}
	return classError
}

// merge adds up the tallies of the workers of a run.
func merge(name string, workers int, elapsed time.Duration, tallies []*tally) *Report {
	r := &Report{Scenario: name, Workers: workers, Elapsed: elapsed,
		Statuses: map[string]int{}}
	for _, t := range tallies {
		for label, n := range t.statuses {
			r.Statuses[label] += n
			switch classify(label) {
			case classOK:
				r.OK += n
			case classThrottled:
				r.Throttled += n
			default:
				r.Errors += n
			}
		}
		r.Latencies = append(r.Latencies, t.latencies...)
		if r.FirstError == "" {
			r.FirstError = t.firstErr
		}
	}
	slices.Sort(r.Latencies)
	return r
}

// Requests is how many requests finished.
func (r *Report) Requests() int { return r.OK + r.Throttled + r.Errors }

// Throughput is the successful requests per second.
func (r *Report) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Percentile returns the nearest-rank q-quantile (0 < q ≤ 1) of the
// latencies, or 0 without any.
func (r *Report) Percentile(q float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(n))) - 1
	return r.Latencies[min(max(i, 0), n-1)]
}

// Print writes the reports as a table, then the answers other than 200 of
// each scenario and its first transport error.
func Print(w io.Writer, reports []*Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\tok\tthrottled\terrors\tok/s\t"+
		"p50 ms\tp90 ms\tp99 ms\tmax ms\t")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t\n", r.Scenario,
			r.Requests(), r.OK, r.Throttled, r.Errors, r.Throughput(), ms(r.Percentile(0.5)),
			ms(r.Percentile(0.9)), ms(r.Percentile(0.99)), ms(r.Percentile(1)))
	}
	_ = tw.Flush()
	for _, r := range reports {
		if other := r.otherStatuses(); other != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Scenario, other)
		}
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s: first transport error: %s\n", r.Scenario, r.FirstError)
		}
	}
}

// otherStatuses lists the counts of every label but 200, by label.
func (r *Report) otherStatuses() string {
	var parts []string
	for _, label := range slices.Sorted(maps.Keys(r.Statuses)) {
		if label != "200" {
			parts = append(parts, fmt.Sprintf("%s ×%d", label, r.Statuses[label]))
		}
	}
	return strings.Join(parts, ", ")
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}
