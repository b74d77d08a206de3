package main

import "flag"

// flagSet sets a flag of the global command line (the testing package's),
// which testing.Benchmark reads.
func flagSet(name, value string) error { return flag.CommandLine.Set(name, value) }
