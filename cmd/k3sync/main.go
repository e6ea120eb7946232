// Command k3sync reconciles a platform Git repo of CUE tenant definitions
// onto Kubernetes clusters, Kafka clusters and Kong gateways.
package main

import (
	"os"

	"github.com/k3sync/k3sync/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
