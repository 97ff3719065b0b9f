// Command rumd is the real-user monitoring server and its tools, one binary:
//
//	rumd serve      take beacons, keep sketches, answer queries (the default)
//	rumd loadtest   send synthetic beacon traffic and check rumd's answers
//	rumd compare    compare two selections (variants or time ranges) of a running rumd
//	rumd version    print the version, commit, build date and Go version
package main

import (
	"fmt"
	"os"

	"rumd/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(args)
	case "loadtest":
		return runLoadtest(args)
	case "compare":
		return runCompare(args)
	case "version":
		fmt.Println(buildinfo.Get())
		return 0
	case "help", "-h", "--help":
		usage()
		return 0
	}
	fmt.Fprintf(os.Stderr, "rumd: unknown command %q\n\n", cmd)
	usage()
	return 2
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: rumd <command> [flags]

commands:
  serve      run the server (default); rumd serve -h lists its flags
  loadtest   send synthetic beacons to a rumd and check its answers
  compare    compare two variants or time ranges of a running rumd, as a table
  version    print the version, commit, build date and Go version
`)
}
