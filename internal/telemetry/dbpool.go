package telemetry

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterDBPool exports the statistics of a database/sql pool, read from
// stats on every scrape: the gauges cerberus_db_pool_open_connections,
// _in_use, _idle and _max, and the counters cerberus_db_pool_wait_total and
// cerberus_db_pool_wait_seconds_total. Registering again replaces the
// previous pool.
func (m *Metrics) RegisterDBPool(stats func() sql.DBStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dbPool != nil {
		m.Registry.Unregister(m.dbPool)
	}
	m.dbPool = newPoolCollector(stats)
	m.Registry.MustRegister(m.dbPool)
}

// poolCollector reads sql.DBStats at scrape time.
type poolCollector struct {
	stats                  func() sql.DBStats
	open, inUse, idle, max *prometheus.Desc
	waits, waitSeconds     *prometheus.Desc
}

// newPoolCollector describes the pool metrics.
func newPoolCollector(stats func() sql.DBStats) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("cerberus_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		stats: stats,
		open: d("open_connections",
			"Database connections open, in use or idle."),
		inUse: d("in_use", "Database connections executing a query."),
		idle:  d("idle", "Database connections open and unused."),
		max: d("max",
			"Maximum open database connections (0 means unlimited)."),
		waits: d("wait_total",
			"Times a query waited for a free database connection."),
		waitSeconds: d("wait_seconds_total",
			"Total time spent waiting for a free database connection."),
	}
}

// Describe sends the descriptors of the pool metrics.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.open, c.inUse, c.idle, c.max, c.waits, c.waitSeconds,
	} {
		ch <- d
	}
}

// Collect reads the pool statistics once and sends every metric.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue,
			float64(v))
	}
	gauge(c.open, s.OpenConnections)
	gauge(c.inUse, s.InUse)
	gauge(c.idle, s.Idle)
	gauge(c.max, s.MaxOpenConnections)
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue,
		float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.waitSeconds,
		prometheus.CounterValue, s.WaitDuration.Seconds())
}
