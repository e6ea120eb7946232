// Command k3sync reconciles a platform Git repo of CUE tenant definitions
// onto Kubernetes clusters, Kafka clusters and Kong gateways.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/k3sync/k3sync/internal/cli"
	"github.com/k3sync/k3sync/internal/loader"
)

func main() {
	// A tenant evaluation sandbox child (loader.Sandbox) serves and exits.
	loader.ChildMain()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go exitOnSecondSignal(ctx, stop)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitOnSecondSignal waits for the first SIGINT or SIGTERM (which ends ctx
// and lets the command stop cleanly) and exits at once on the next one,
// whatever the command is still doing.
func exitOnSecondSignal(ctx context.Context, stop func()) {
	again := make(chan os.Signal, 1)
	<-ctx.Done()
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	stop()
	<-again
	fmt.Fprintln(os.Stderr, "k3sync: second signal: exiting now")
	os.Exit(cli.ExitInterrupted)
}
