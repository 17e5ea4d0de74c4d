package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/boostgen/boostgen/driver"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/spf13/pflag"
)

// RunOnClusterOptions runs `boostgen run CONFIG --out URI` as a RayJob: the
// lead's `run` command owns CONFIG, --out and --on-cluster, and hands the
// rest to these options:
//
//	roc := cmd.NewRunOnClusterOptions(streams)
//	roc.AddFlags(runCmd.Flags())
//	... in RunE, when --on-cluster is set:
//	if err := roc.Complete(configPath, out); err != nil { return err }
//	if err := roc.Validate(); err != nil { return err }
//	return roc.Run(cmd.Context())
//
// The RayJob runs --shards Ray tasks, task i running
// `boostgen run CONFIG --shard i/N --out URI` in the trainer image, then
// `boostgen finalize URI` once all succeeded. The config file travels inside
// the RayJob (≤ 48 KiB), so it must hold no secrets: API keys reach the pods
// from Secrets (--openai-secret, --hf-secret, --aws-secret).
type RunOnClusterOptions struct {
	Streams IOStreams
	Kube    driver.KubeFlags
	cluster *clusterFlags

	Name         string
	Shards       int
	GPUsPerShard float64
	CPUsPerShard float64
	Print        string // yaml or json: print the RayJob, submit nothing
	Wait         bool
	Follow       bool

	job    driver.DataGenJob
	cfg    driver.Cluster
	rayjob *rayv1.RayJob
}

// NewRunOnClusterOptions has defaults for a CPU-only fan-out of 8 shards on
// 4 worker pods; set --gpus-per-shard when the config's models need GPUs.
func NewRunOnClusterOptions(streams IOStreams) *RunOnClusterOptions {
	o := &RunOnClusterOptions{Streams: streams, cluster: newClusterFlags(), Shards: 8, CPUsPerShard: 1}
	o.cluster.deadline = 24 * time.Hour
	o.cluster.c.Workers = 4
	o.cluster.c.GPUsPerWorker = 0
	o.cluster.c.WorkerCPU = "8"
	o.cluster.c.WorkerMemory = "32Gi"
	return o
}

// AddFlags adds the cluster flags. None of them clashes with a plain
// `boostgen run` flag: they are all about the cluster (and kubectl's
// --kubeconfig, --context, --namespace).
func (o *RunOnClusterOptions) AddFlags(fs *pflag.FlagSet) {
	addKubeFlags(fs, &o.Kube)
	fs.StringVar(&o.Name, "job-name", "", "RayJob name (default: a random gen-xxxxxx)")
	fs.IntVar(&o.Shards, "shards", o.Shards, "number of shards, one Ray task each")
	fs.Float64Var(&o.GPUsPerShard, "gpus-per-shard", 0, "GPUs each shard's task needs (for the depth, segmentation and 3D models)")
	fs.Float64Var(&o.CPUsPerShard, "cpus-per-shard", o.CPUsPerShard, "CPUs each shard's task needs")
	fs.StringVar(&o.Print, "print-rayjob", "", "print the RayJob as yaml or json instead of submitting it")
	fs.BoolVar(&o.Wait, "wait", false, "wait until the RayJob ends")
	fs.BoolVar(&o.Follow, "follow", false, "stream the RayJob's log while waiting (implies --wait)")
	o.cluster.add(fs)
}

// Complete reads the config file and builds the RayJob.
func (o *RunOnClusterOptions) Complete(configPath, out string) error {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if o.Name == "" {
		o.Name = driver.NewRunName("gen")
	}
	o.job = driver.DataGenJob{Name: o.Name, ConfigName: filepath.Base(configPath), Config: data, Shards: o.Shards,
		Out: out, GPUsPerShard: o.GPUsPerShard, CPUsPerShard: o.CPUsPerShard}
	if o.cfg, err = o.cluster.cluster(o.Kube.Namespace); err != nil {
		return err
	}
	o.rayjob, err = driver.BuildDataGenJob(o.job, o.cfg)
	return err
}

// Validate checks flag combinations.
func (o *RunOnClusterOptions) Validate() error {
	if o.Print != "" {
		if err := validateOutput(o.Print); err != nil {
			return fmt.Errorf("--print-rayjob: %w", err)
		}
		if o.Wait || o.Follow {
			return errors.New("--print-rayjob submits nothing to wait for")
		}
	}
	return nil
}

// Run prints or submits the RayJob, and waits if asked.
func (o *RunOnClusterOptions) Run(ctx context.Context) error {
	if o.Print != "" {
		return printObjects(o.Streams.Out, o.Print, []*rayv1.RayJob{o.rayjob}, false)
	}
	cl, err := o.Kube.Connect()
	if err != nil {
		return err
	}
	created, err := cl.Submit(ctx, o.rayjob, o.cfg.Secrets)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Streams.ErrOut, "rayjob.ray.io/%s created in %s: %d shards into %s\n", created.Name, cl.Namespace, o.job.Shards, o.job.Out)
	if !o.Wait && !o.Follow {
		fmt.Fprintf(o.Streams.ErrOut, "follow it with: boostgen train logs -f %s -n %s\n", created.Name, cl.Namespace)
		return nil
	}
	// Zero waitOptions: the driver's own pod-check and log-retry intervals.
	_, err = waitAndFollow(ctx, cl, o.Streams, created.Name, o.Follow, waitOptions{})
	return err
}
