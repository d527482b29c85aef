//go:build race

package identity_test

// raceEnabled reports a build with the race detector.
const raceEnabled = true
