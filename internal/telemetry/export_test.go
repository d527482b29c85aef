package telemetry

import "time"

// SetRetryDelays shortens the waits between delivery attempts for tests.
func SetRetryDelays(s *Shipper, d ...time.Duration) { s.retry = d }
