package cmd

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/boostgen/boostgen/driver"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
)

// StatusOptions is `boostgen train status NAME`.
type StatusOptions struct {
	Streams IOStreams
	Kube    *driver.KubeFlags
	Name    string
	Output  string
	Wait    bool
	wo      waitOptions
}

func newStatusCommand(streams IOStreams, kube *driver.KubeFlags) *cobra.Command {
	o := &StatusOptions{Streams: streams, Kube: kube}
	c := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a training RayJob's state, and what holds it up",
		Example: `  boostgen train status sb-7b-s2
  boostgen train status sb-7b-s2 -o yaml    # the whole RayJob
  boostgen train status sb-7b-s2 --wait     # block until it ends; exit status says how`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			if err := validateOutput(o.Output); err != nil {
				return err
			}
			return o.Run(c)
		},
	}
	c.Flags().StringVarP(&o.Output, "output", "o", "", "print the RayJob as yaml or json")
	c.Flags().BoolVar(&o.Wait, "wait", false, "wait until the job ends")
	c.Flags().DurationVar(&o.wo.podCheckInterval, "pod-check-interval", 5*time.Second, "how often to look for stuck pods while waiting")
	_ = c.Flags().MarkHidden("pod-check-interval")
	return c
}

// Run prints the job's state. Without --wait the exit status is 0 whatever
// the state; with it, it reflects the result.
func (o *StatusOptions) Run(c *cobra.Command) error {
	cl, err := o.Kube.Connect()
	if err != nil {
		return err
	}
	ctx := c.Context()
	if o.Wait {
		_, err := waitAndFollow(ctx, cl, o.Streams, o.Name, false, o.wo)
		return err
	}
	job, err := cl.Get(ctx, o.Name)
	if err != nil {
		return err
	}
	if o.Output != "" {
		job.ManagedFields = nil
		// Typed clients drop the type on decode; kubectl prints it.
		job.APIVersion, job.Kind = rayv1.GroupVersion.String(), "RayJob"
		return printObjects(o.Streams.Out, o.Output, []*rayv1.RayJob{job}, true)
	}
	w := o.Streams.Out
	st := job.Status
	fmt.Fprintf(w, "Name:        %s\n", job.Name)
	fmt.Fprintf(w, "Namespace:   %s\n", job.Namespace)
	if run := job.Labels[driver.LabelRun]; run != "" {
		fmt.Fprintf(w, "Run:         %s\n", run)
	}
	if s := job.Labels[driver.LabelStage]; s != "" {
		fmt.Fprintf(w, "Stage:       %s\n", s)
	}
	fmt.Fprintf(w, "Deployment:  %s\n", orDash(string(st.JobDeploymentStatus)))
	fmt.Fprintf(w, "Job:         %s\n", orDash(string(st.JobStatus)))
	if st.Reason != "" {
		fmt.Fprintf(w, "Reason:      %s\n", st.Reason)
	}
	if st.Message != "" {
		fmt.Fprintf(w, "Message:     %s\n", st.Message)
	}
	if st.RayClusterName != "" {
		fmt.Fprintf(w, "RayCluster:  %s\n", st.RayClusterName)
	}
	if st.DashboardURL != "" {
		fmt.Fprintf(w, "Dashboard:   %s\n", st.DashboardURL)
	}
	if st.StartTime != nil {
		fmt.Fprintf(w, "Started:     %s\n", st.StartTime.UTC().Format(time.RFC3339))
	}
	if st.EndTime != nil {
		fmt.Fprintf(w, "Ended:       %s\n", st.EndTime.UTC().Format(time.RFC3339))
	}
	for _, k := range []string{driver.AnnotationData, driver.AnnotationInit, driver.AnnotationOut, driver.AnnotationConfig, driver.AnnotationShards} {
		if v := job.Annotations[k]; v != "" {
			fmt.Fprintf(w, "%-12s %s\n", strings.TrimPrefix(k, "boostgen.io/")+":", v)
		}
	}
	if done, _ := driver.Outcome(job); !done {
		problems, err := cl.PodProblems(ctx, job)
		if err != nil {
			fmt.Fprintf(w, "Pods:        cannot inspect: %v\n", err)
		}
		for _, p := range problems {
			fmt.Fprintf(w, "Problem:     %s\n", p)
		}
	}
	return nil
}

// LogsOptions is `boostgen train logs [-f] NAME`.
type LogsOptions struct {
	Streams IOStreams
	Kube    *driver.KubeFlags
	Name    string
	Follow  bool
	retry   time.Duration
}

func newLogsCommand(streams IOStreams, kube *driver.KubeFlags) *cobra.Command {
	o := &LogsOptions{Streams: streams, Kube: kube}
	c := &cobra.Command{
		Use:   "logs [-f] NAME",
		Short: "Print a training RayJob's log (its submitter's, which follows the Ray job)",
		Long: `Print a training RayJob's log: the output of its submitter, which follows
the Ray job's driver. With -f it keeps streaming until the job ends,
reconnecting when the stream breaks or the submitter is retried in a new
pod; the exit status then reflects the job's result.`,
		Example: `  boostgen train logs sb-7b-s1
  boostgen train logs -f sb-7b-s1`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			return o.Run(c)
		},
	}
	c.Flags().BoolVarP(&o.Follow, "follow", "f", false, "stream until the job ends")
	c.Flags().DurationVar(&o.retry, "log-retry", 2*time.Second, "pause before reconnecting")
	_ = c.Flags().MarkHidden("log-retry")
	return c
}

// Run streams the log.
func (o *LogsOptions) Run(c *cobra.Command) error {
	cl, err := o.Kube.Connect()
	if err != nil {
		return err
	}
	ctx := c.Context()
	src := driver.KubeLogSource{Clients: cl, Name: o.Name}
	err = driver.FollowLogs(ctx, src, o.Streams.Out, driver.FollowOptions{Follow: o.Follow, Retry: o.retry, Notices: o.Streams.ErrOut})
	if err != nil || !o.Follow {
		return err
	}
	job, err := cl.Get(ctx, o.Name)
	if err != nil {
		return err
	}
	_, err = driver.Outcome(job)
	return err
}

// CancelOptions is `boostgen train cancel NAME`.
type CancelOptions struct {
	Streams IOStreams
	Kube    *driver.KubeFlags
	Names   []string
}

func newCancelCommand(streams IOStreams, kube *driver.KubeFlags) *cobra.Command {
	o := &CancelOptions{Streams: streams, Kube: kube}
	return &cobra.Command{
		Use:   "cancel NAME...",
		Short: "Stop training RayJobs and delete their clusters",
		Long: `Stop training RayJobs: each RayJob is deleted, and KubeRay deletes the
Ray cluster and submitter it created with it. Checkpoints already written
stay where they are.`,
		Example: `  boostgen train cancel sb-7b-s2`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Names = args
			return o.Run(c)
		},
	}
}

// Run deletes the jobs.
func (o *CancelOptions) Run(c *cobra.Command) error {
	cl, err := o.Kube.Connect()
	if err != nil {
		return err
	}
	for _, n := range o.Names {
		if err := cl.Cancel(c.Context(), n); err != nil {
			return err
		}
		fmt.Fprintf(o.Streams.Out, "rayjob.ray.io/%s cancelled\n", n)
	}
	return nil
}

// ListOptions is `boostgen train list`.
type ListOptions struct {
	Streams IOStreams
	Kube    *driver.KubeFlags
	now     func() time.Time
}

func newListCommand(streams IOStreams, kube *driver.KubeFlags) *cobra.Command {
	o := &ListOptions{Streams: streams, Kube: kube, now: time.Now}
	return &cobra.Command{
		Use:     "list",
		Short:   "List the RayJobs boostgen created in the namespace",
		Example: `  boostgen train list -n training`,
		Args:    cobra.NoArgs,
		RunE:    func(c *cobra.Command, _ []string) error { return o.Run(c) },
	}
}

// Run prints a table, in name order.
func (o *ListOptions) Run(c *cobra.Command) error {
	cl, err := o.Kube.Connect()
	if err != nil {
		return err
	}
	jobs, err := cl.List(c.Context())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(o.Streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tRUN\tSTAGE\tDEPLOYMENT\tJOB\tAGE")
	for _, j := range jobs {
		age := duration.HumanDuration(o.now().Sub(j.CreationTimestamp.Time))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Name, orDash(j.Labels[driver.LabelComponent]), orDash(j.Labels[driver.LabelRun]),
			orDash(j.Labels[driver.LabelStage]), orDash(string(j.Status.JobDeploymentStatus)), orDash(string(j.Status.JobStatus)), age)
	}
	return tw.Flush()
}
