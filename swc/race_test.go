//go:build race

package swc_test

// propertySeeds is smaller under the race detector, which slows the
// single-threaded simulation about tenfold without finding more there.
const propertySeeds = 100
