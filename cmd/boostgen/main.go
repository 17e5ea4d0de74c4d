// Command boostgen turns images, videos and 3D scans into multi-turn
// spatial-reasoning training data (SpatialBoost), and launches the training
// that uses it. This file only wires commands; the work is in gen,
// geometry and templates.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	drivercmd "github.com/boostgen/boostgen/driver/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "boostgen:", err)
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		// 2 when a cluster job failed, 3 when it was stopped, else 1.
		os.Exit(drivercmd.ExitCode(err))
	}
}

// exitCode lets a command choose its exit status after printing its own report.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

type globalOptions struct {
	verbose bool
}

func (g *globalOptions) logger() *slog.Logger {
	level := slog.LevelInfo
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newRootCommand() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "boostgen",
		Short: "Generate multi-turn spatial-reasoning training data (SpatialBoost)",
		Long: `boostgen turns images, videos and 3D scans into SpatialBoost's training data:
12-turn spatial chains of thought (pixel → object → scene → captions) in LLaVA
conversation format, written as sharded JSONL with a manifest.

Start with the built-in synthetic scenes, which need no network and no models:

  boostgen run examples/quickstart.yaml --out out/quickstart
  boostgen validate out/quickstart`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log every reject and stage detail")
	root.AddCommand(newRunCommand(g), newValidateCommand(g), newFinalizeCommand(g), newStatsCommand(g), newPreviewCommand(g), newVersionCommand(),
		drivercmd.NewTrainCommand(drivercmd.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
	return root
}
