//go:build !race

package swc_test

// propertySeeds is how many seeds the property test runs by default;
// NAUTILUS_SIM_SEEDS overrides it.
const propertySeeds = 2000
