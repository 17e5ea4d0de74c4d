package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// JobError is a RayJob that ended without succeeding.
type JobError struct {
	Name             string
	DeploymentStatus rayv1.JobDeploymentStatus
	JobStatus        rayv1.JobStatus
	Reason           rayv1.JobFailedReason
	Message          string
	// Stopped is true when the job was stopped or deleted rather than failed.
	Stopped bool
}

func (e *JobError) Error() string {
	verb := "failed"
	if e.Stopped {
		verb = "was stopped"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "RayJob %s %s (deployment %s, job %s", e.Name, verb, orNone(string(e.DeploymentStatus)), orNone(string(e.JobStatus)))
	if e.Reason != "" {
		fmt.Fprintf(&b, ", reason %s", e.Reason)
	}
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Outcome says whether job has ended and, if so, how: done with a nil error
// is success, done with a *JobError is failure. A Failed deployment is a
// failure whatever jobStatus still says (KubeRay can leave it at RUNNING
// when the cluster, the submitter or the deadline gives out first).
func Outcome(job *rayv1.RayJob) (done bool, err error) {
	st := job.Status
	fail := func(stopped bool) error {
		return &JobError{Name: job.Name, DeploymentStatus: st.JobDeploymentStatus, JobStatus: st.JobStatus,
			Reason: st.Reason, Message: st.Message, Stopped: stopped}
	}
	if job.DeletionTimestamp != nil {
		// Cancelled: KubeRay's finalizer is stopping it. Its status may
		// never reach a terminal state before the object is gone.
		e := fail(true).(*JobError)
		e.Message = "the RayJob is being deleted"
		return true, e
	}
	switch st.JobDeploymentStatus {
	case rayv1.JobDeploymentStatusFailed, rayv1.JobDeploymentStatusValidationFailed:
		return true, fail(false)
	case rayv1.JobDeploymentStatusComplete:
		switch st.JobStatus {
		case rayv1.JobStatusSucceeded:
			return true, nil
		case rayv1.JobStatusStopped:
			return true, fail(true)
		}
		return true, fail(false)
	}
	return false, nil
}

// Phase is a one-line summary of where job is.
func Phase(job *rayv1.RayJob) string {
	st := job.Status
	s := orNone(string(st.JobDeploymentStatus))
	if st.JobStatus != "" {
		s += "/" + string(st.JobStatus)
	}
	return s
}

// Watcher follows RayJobs until they end, telling the user what happens.
type Watcher struct {
	*Clients
	// Progress receives one line per state change and per pod problem.
	Progress io.Writer
	// PodCheckInterval is how often pods are inspected while the job is not
	// yet running (default 5s).
	PodCheckInterval time.Duration
}

// Wait blocks until the RayJob name ends and returns it, with a *JobError if
// it did not succeed. A RayJob deleted while waiting counts as stopped.
func (w *Watcher) Wait(ctx context.Context, name string) (*rayv1.RayJob, error) {
	interval := w.PodCheckInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	rayjobs := w.Ray.RayV1().RayJobs(w.Namespace)
	reported := map[string]bool{}
	lastPhase := ""

	for {
		job, err := rayjobs.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, &JobError{Name: name, Stopped: true, Message: "the RayJob was deleted"}
		}
		if err != nil {
			return nil, w.explain(err, name)
		}
		ch, err := rayjobs.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: job.ResourceVersion,
		})
		if err != nil {
			return nil, w.explain(err, name)
		}
		done, job, err := w.follow(ctx, ch, job, tick.C, reported, &lastPhase)
		ch.Stop()
		if done || err != nil {
			return job, err
		}
		// The watch closed (server timeout or a compacted resource version):
		// read the job again and start a new one, without hammering a server
		// that keeps closing watches.
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-tick.C:
		}
	}
}

// follow consumes one watch. It returns done=false when the watch ends
// before the job does.
func (w *Watcher) follow(ctx context.Context, ch watch.Interface, job *rayv1.RayJob, tick <-chan time.Time,
	reported map[string]bool, lastPhase *string) (bool, *rayv1.RayJob, error) {
	observe := func(j *rayv1.RayJob) (bool, error) {
		if p := Phase(j); p != *lastPhase {
			*lastPhase = p
			w.printf("%s: %s", j.Name, p)
		}
		return Outcome(j)
	}
	if done, err := observe(job); done {
		return true, job, err
	}
	w.checkPods(ctx, job, reported)
	for {
		select {
		case <-ctx.Done():
			return true, job, ctx.Err()
		case <-tick:
			w.checkPods(ctx, job, reported)
		case ev, ok := <-ch.ResultChan():
			if !ok {
				return false, job, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return true, job, &JobError{Name: job.Name, DeploymentStatus: job.Status.JobDeploymentStatus,
					JobStatus: job.Status.JobStatus, Stopped: true, Message: "the RayJob was deleted"}
			case watch.Error:
				return false, job, nil
			case watch.Added, watch.Modified:
				j, ok := ev.Object.(*rayv1.RayJob)
				if !ok {
					continue
				}
				job = j
				if done, err := observe(job); done {
					return true, job, err
				}
			}
		}
	}
}

func (w *Watcher) printf(format string, args ...any) {
	if w.Progress != nil {
		fmt.Fprintf(w.Progress, format+"\n", args...)
	}
}

// checkPods reports, once each, the problems of the job's pods: the Ray
// cluster's (label ray.io/cluster) and the submitter Job's.
func (w *Watcher) checkPods(ctx context.Context, job *rayv1.RayJob, reported map[string]bool) {
	switch job.Status.JobDeploymentStatus {
	case rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed:
		return
	}
	problems, err := w.PodProblems(ctx, job)
	if err != nil {
		key := "list:" + err.Error()
		if !reported[key] {
			reported[key] = true
			w.printf("%s: cannot inspect pods: %v", job.Name, err)
		}
		return
	}
	for _, p := range problems {
		key := p.Pod + "/" + p.Container + "/" + p.Reason
		if reported[key] {
			continue
		}
		reported[key] = true
		w.printf("%s: %s", job.Name, p)
	}
}

// PodProblem is one reason a pod is not making progress.
type PodProblem struct {
	Pod       string
	Container string // empty for scheduling problems
	Reason    string // ImagePullBackOff, ErrImagePull, CrashLoopBackOff, Unschedulable, …
	Message   string
}

func (p PodProblem) String() string {
	s := "pod " + p.Pod
	if p.Container != "" {
		s += " container " + p.Container
	}
	s += ": " + p.Reason
	if p.Message != "" {
		s += ": " + p.Message
	}
	return s
}

// stuckReasons are container waiting reasons that do not fix themselves.
var stuckReasons = map[string]bool{
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true, // e.g. a secretKeyRef to a missing key
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// PodProblems inspects the pods belonging to job.
func (c *Clients) PodProblems(ctx context.Context, job *rayv1.RayJob) ([]PodProblem, error) {
	selectors := []string{"batch.kubernetes.io/job-name=" + job.Name}
	if rc := job.Status.RayClusterName; rc != "" {
		selectors = append(selectors, "ray.io/cluster="+rc)
	}
	var problems []PodProblem
	seen := map[string]bool{}
	for _, sel := range selectors {
		pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			problems = append(problems, DiagnosePod(p)...)
		}
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Pod < problems[j].Pod })
	return problems, nil
}

// DiagnosePod reads what is wrong with a pod from its status.
func DiagnosePod(p *corev1.Pod) []PodProblem {
	var out []PodProblem
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			out = append(out, PodProblem{Pod: p.Name, Reason: c.Reason, Message: c.Message})
		}
	}
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if wt := cs.State.Waiting; wt != nil && stuckReasons[wt.Reason] {
			out = append(out, PodProblem{Pod: p.Name, Container: cs.Name, Reason: wt.Reason, Message: wt.Message})
		}
	}
	return out
}

// IsStopped reports whether err says a job was stopped or deleted.
func IsStopped(err error) bool {
	var je *JobError
	return errors.As(err, &je) && je.Stopped
}
