package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/boostgen/boostgen/driver"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/spf13/cobra"
)

// NewTrainCommand is `boostgen train` and its subcommands.
func NewTrainCommand(streams IOStreams) *cobra.Command {
	kube := &driver.KubeFlags{}
	c := &cobra.Command{
		Use:   "train",
		Short: "Train SpatialBoost's three stages as RayJobs on a KubeRay cluster",
		Example: `  # All three stages, each starting from the previous one's checkpoint; wait and stream logs.
  boostgen train submit --stage all --data s3://bkt/ds/quickstart --out s3://bkt/ckpt/run1 --follow

  # What would be submitted, without a cluster.
  boostgen train submit --stage 3 --data s3://bkt/ds --init s3://bkt/ckpt/run1/stage2 --dry-run -o yaml

  # Jobs, their state, their logs.
  boostgen train list
  boostgen train status run1-s3
  boostgen train logs -f run1-s3`,
		Long: `Train SpatialBoost's three stages as KubeRay RayJobs, from a laptop.

Each stage is one RayJob named RUN-s1, RUN-s2 or RUN-s3 that creates its own
Ray cluster (a head and GPU workers), runs the trainer image's
"python -m boostgen_trainer", and deletes the cluster when it ends:

  stage 1  feature alignment: projector only          lr 2e-3  batch 256  1 epoch
  stage 2  instruction tuning: projector + LLM        lr 2e-5  batch 128  1 epoch
  stage 3  vision encoder Attn+/alpha + projector,    lr 2e-5  batch 128  1 epoch
           LLM frozen

(Appendix A of the paper; it gives no stage 2 learning rate, 2e-5 is ours.)

The cluster is reached like kubectl does: --kubeconfig, else $KUBECONFIG,
else ~/.kube/config, with --context and --namespace. It needs the KubeRay
operator (ray.io/v1 RayJob). Credentials stay in Kubernetes Secrets that
the pods reference by name (--aws-secret, --openai-secret, --hf-secret).

Exit status: 0 success, 1 error, 2 the RayJob failed, 3 it was stopped or
deleted.`,
		SilenceUsage: true,
	}
	addKubeFlags(c.PersistentFlags(), kube)
	c.AddCommand(
		newSubmitCommand(streams, kube),
		newStatusCommand(streams, kube),
		newLogsCommand(streams, kube),
		newCancelCommand(streams, kube),
		newListCommand(streams, kube),
	)
	for _, sub := range c.Commands() {
		sub.SilenceUsage = true // a failed job is not a usage mistake
	}
	return c
}

// waitOptions are the test seams shared by the commands that wait.
type waitOptions struct {
	podCheckInterval time.Duration
	logRetry         time.Duration
}

// waitAndFollow waits for name to end, streaming its submitter's log to out
// meanwhile when follow is set.
func waitAndFollow(ctx context.Context, cl *driver.Clients, streams IOStreams, name string, follow bool, wo waitOptions) (*rayv1.RayJob, error) {
	w := &driver.Watcher{Clients: cl, Progress: streams.ErrOut, PodCheckInterval: wo.podCheckInterval}
	if !follow {
		return w.Wait(ctx, name)
	}
	logCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	logsDone := make(chan error, 1)
	go func() {
		err := driver.FollowLogs(logCtx, driver.KubeLogSource{Clients: cl, Name: name}, streams.Out,
			driver.FollowOptions{Follow: true, Retry: wo.logRetry, Notices: streams.ErrOut})
		if err != nil && logCtx.Err() == nil {
			// The job result still decides the exit status; say why the log stopped.
			fmt.Fprintf(streams.ErrOut, "%s: log streaming stopped: %v\n", name, err)
		}
		logsDone <- err
	}()
	job, err := w.Wait(ctx, name)
	// The log follower stops by itself once it sees the job ended; give it a
	// moment to print the last lines, then stop it.
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	select {
	case <-logsDone:
	case <-grace.C:
		cancel()
		<-logsDone
	}
	return job, err
}
