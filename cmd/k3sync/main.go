// Command k3sync reconciles a platform Git repo of CUE tenant definitions
// onto Kubernetes clusters, Kafka clusters and Kong gateways.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/k3sync/k3sync/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
