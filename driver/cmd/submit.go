package cmd

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/boostgen/boostgen/driver"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/spf13/cobra"
)

// SubmitOptions is `boostgen train submit`.
type SubmitOptions struct {
	Streams IOStreams
	Kube    *driver.KubeFlags
	cluster *clusterFlags

	Stage     string
	Data      []string
	Init      string
	Out       string
	Name      string
	LR        []string
	BatchSize []string
	Epochs    []string
	DryRun    bool
	Output    string
	Wait      bool
	Follow    bool
	wo        waitOptions

	// Filled by Complete.
	stages  []driver.Stage
	jobs    []driver.TrainJob
	cfg     driver.Cluster
	rayjobs []*rayv1.RayJob
}

const submitExamples = `  # Stage 1 on the default cluster shape (1 worker × 4 GPUs), waiting for the end:
  boostgen train submit --stage 1 --data s3://bkt/blip558k --init hf://Qwen/Qwen2-7B \
      --out s3://bkt/ckpt/sb-7b/stage1 --aws-secret aws-creds --hf-secret hf-token --wait

  # All three stages, one dataset each; stage k writes s3://bkt/ckpt/sb-7b/stage<k>
  # and stages 2 and 3 start from the stage before (the command waits between them):
  boostgen train submit --stage all --name sb-7b \
      --data 1=s3://bkt/blip558k --data 2=s3://bkt/mv-vqa --data 3=s3://bkt/spatial \
      --init hf://Qwen/Qwen2-7B --out s3://bkt/ckpt/sb-7b --aws-secret aws-creds --follow

  # Stage 3 with a smaller learning rate on 2 nodes × 8 H100s:
  boostgen train submit --stage 3 --data s3://bkt/spatial --init s3://bkt/ckpt/sb-7b/stage2 \
      --out s3://bkt/ckpt/sb-7b-lr1e-5/stage3 --lr 1e-5 --worker-pods 2 --gpus-per-worker 8 \
      --node-selector cloud.google.com/gke-accelerator=nvidia-h100-80gb

  # Print the RayJob instead of submitting it:
  boostgen train submit --stage 2 --data s3://bkt/mv-vqa --init s3://bkt/ckpt/a/stage1 \
      --out s3://bkt/ckpt/a/stage2 --dry-run -o yaml

  # Run on an existing RayCluster named "gpu-pool" (credentials must already be there):
  boostgen train submit --stage 1 --data s3://bkt/blip558k --out s3://bkt/ckpt/x --cluster gpu-pool`

func newSubmitCommand(streams IOStreams, kube *driver.KubeFlags) *cobra.Command {
	o := &SubmitOptions{Streams: streams, Kube: kube, cluster: newClusterFlags()}
	c := &cobra.Command{
		Use:   "submit --stage 1|2|3|all --data URI [--init URI] [--out URI]",
		Short: "Submit one training stage, or all three in order, as RayJobs",
		Long: `Submit one training stage, or all three in order, as RayJobs.

--stage all runs the stages one after the other from this command: it
submits stage 1, waits for it to succeed, then submits stage 2 starting
from stage 1's checkpoint, and so on. If this command is interrupted, the
running stage carries on; continue with --stage 2 or 3 and --init pointing at
the last finished stage's checkpoint.

--data takes one URI for every stage, or STAGE=URI per stage (repeatable);
--lr, --batch-size and --epochs likewise take VALUE or STAGE=VALUE. Without
--out, checkpoints go under the first dataset's parent, in
checkpoints/RUN. URIs may not carry credentials or query strings.`,
		Example: submitExamples,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.Stage, "stage", "", "1, 2, 3 or all")
	fs.StringArrayVar(&o.Data, "data", nil, "dataset URI, or STAGE=URI (repeatable)")
	fs.StringVar(&o.Init, "init", "", "model or checkpoint to start from (required for stages 2 and 3 alone)")
	fs.StringVar(&o.Out, "out", "", "checkpoint URI (with --stage all: a prefix, one stage<k> per stage)")
	fs.StringVar(&o.Name, "name", "", "run name; RayJobs are RUN-s1…RUN-s3 (default: a random sb-xxxxxx)")
	fs.StringArrayVar(&o.LR, "lr", nil, "learning rate, or STAGE=LR")
	fs.StringArrayVar(&o.BatchSize, "batch-size", nil, "global batch size, or STAGE=N")
	fs.StringArrayVar(&o.Epochs, "epochs", nil, "epochs, or STAGE=N")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print the RayJob(s) instead of submitting")
	fs.StringVarP(&o.Output, "output", "o", "", "with --dry-run: yaml (default) or json")
	fs.BoolVar(&o.Wait, "wait", false, "wait until the job ends; the exit status says how it ended")
	fs.BoolVar(&o.Follow, "follow", false, "stream the job's log while waiting (implies --wait)")
	fs.DurationVar(&o.wo.podCheckInterval, "pod-check-interval", 5*time.Second, "how often to look for stuck pods while waiting")
	fs.DurationVar(&o.wo.logRetry, "log-retry", 2*time.Second, "pause before reconnecting a broken log stream")
	_ = fs.MarkHidden("pod-check-interval")
	_ = fs.MarkHidden("log-retry")
	o.cluster.add(fs)
	_ = c.MarkFlagRequired("stage")
	_ = c.MarkFlagRequired("data")
	return c
}

// Complete resolves defaults and builds the RayJobs.
func (o *SubmitOptions) Complete() error {
	var err error
	if o.stages, err = driver.ParseStages(o.Stage); err != nil {
		return fmt.Errorf("--stage: %w", err)
	}
	data, err := stageValues("data", o.Data)
	if err != nil {
		return err
	}
	recipes, err := recipes(o.stages, o.LR, o.BatchSize, o.Epochs)
	if err != nil {
		return err
	}
	if o.Name == "" {
		o.Name = driver.NewRunName("sb")
	}
	if o.Out == "" {
		first := "" // the dataset for every stage, else the earliest stage's
		if ks := sortedKeys(data); len(ks) > 0 {
			first = data[ks[0]]
		}
		if o.Out, err = defaultOut(first, o.Name); err != nil {
			return err
		}
		if len(o.stages) == 1 {
			o.Out += "/stage" + o.stages[0].String()
		}
	}
	if o.jobs, err = driver.PlanTraining(o.Name, o.stages, data, o.Init, o.Out, recipes); err != nil {
		return err
	}
	if o.cfg, err = o.cluster.cluster(o.Kube.Namespace); err != nil {
		return err
	}
	o.rayjobs = nil
	for _, j := range o.jobs {
		rj, err := driver.BuildTrainJob(j, o.cfg)
		if err != nil {
			return err
		}
		o.rayjobs = append(o.rayjobs, rj)
	}
	return nil
}

// defaultOut is checkpoints/RUN next to the dataset.
func defaultOut(data, run string) (string, error) {
	u, err := url.Parse(data)
	if err != nil || data == "" {
		return "", errors.New("--out: give a checkpoint URI (none can be derived from --data)")
	}
	u.Path = path.Join(path.Dir(strings.TrimRight(u.Path, "/")), "checkpoints", run)
	return u.String(), nil
}

// Validate checks flag combinations.
func (o *SubmitOptions) Validate() error {
	if err := validateOutput(o.Output); err != nil {
		return err
	}
	if o.Output != "" && !o.DryRun {
		return errors.New("-o only applies with --dry-run")
	}
	if o.DryRun && (o.Wait || o.Follow) {
		return errors.New("--dry-run submits nothing to wait for")
	}
	return nil
}

// Run prints or submits the RayJobs.
func (o *SubmitOptions) Run(c *cobra.Command) error {
	if o.DryRun {
		format := o.Output
		if format == "" {
			format = "yaml"
		}
		return printObjects(o.Streams.Out, format, o.rayjobs, false)
	}
	cl, err := o.Kube.Connect()
	if err != nil {
		return err
	}
	ctx := c.Context()
	wait := o.Wait || o.Follow || len(o.rayjobs) > 1
	for i, rj := range o.rayjobs {
		created, err := cl.Submit(ctx, rj, o.cfg.Secrets)
		if err != nil {
			return err
		}
		j := o.jobs[i]
		fmt.Fprintf(o.Streams.ErrOut, "rayjob.ray.io/%s created in %s: stage %d, %s\n", created.Name, cl.Namespace, j.Stage, j.Stage.Trains())
		fmt.Fprintf(o.Streams.ErrOut, "  data %s\n  init %s\n  out  %s\n", j.Data, orDash(j.Init), j.Out)
		if !wait {
			fmt.Fprintf(o.Streams.ErrOut, "follow it with: boostgen train logs -f %s -n %s\n", created.Name, cl.Namespace)
			continue
		}
		if _, err := waitAndFollow(ctx, cl, o.Streams, created.Name, o.Follow, o.wo); err != nil {
			if i+1 < len(o.rayjobs) {
				return fmt.Errorf("%w; stages after %d were not submitted", err, j.Stage)
			}
			return err
		}
		fmt.Fprintf(o.Streams.ErrOut, "%s: stage %d succeeded, checkpoint in %s\n", created.Name, j.Stage, j.Out)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
