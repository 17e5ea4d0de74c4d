package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	drivercmd "github.com/boostgen/boostgen/driver/cmd"
)

// clusterRun is `boostgen run --on-cluster`: the same config, run as a
// RayJob of --shards tasks (each `boostgen run --shard i/N`) and a finalize.
type clusterRun struct {
	enabled bool
	opts    *drivercmd.RunOnClusterOptions
}

func addClusterRun(cmd *cobra.Command) *clusterRun {
	c := &clusterRun{opts: drivercmd.NewRunOnClusterOptions(drivercmd.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})}
	cmd.Flags().BoolVar(&c.enabled, "on-cluster", false, "run on a KubeRay cluster as a RayJob instead of here (see --shards, --gpus-per-shard, --print-rayjob)")
	c.opts.AddFlags(cmd.Flags())
	cmd.Example += `

  # The same run on a KubeRay cluster: 16 shards, one GPU each, output to S3.
  boostgen run config.yaml --on-cluster --shards 16 --gpus-per-shard 1 --out s3://bucket/ds --wait`
	return c
}

func (c *clusterRun) run(cmd *cobra.Command, config, out string) error {
	if out == "" {
		return fmt.Errorf("--on-cluster needs --out: a location every shard can reach, e.g. s3://bucket/prefix")
	}
	c.opts.Streams = drivercmd.IOStreams{In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), ErrOut: cmd.ErrOrStderr()}
	if err := c.opts.Complete(config, out); err != nil {
		return err
	}
	if err := c.opts.Validate(); err != nil {
		return err
	}
	return c.opts.Run(cmd.Context())
}
