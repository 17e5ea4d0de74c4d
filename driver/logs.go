package driver

import (
	"bufio"
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
)

// SubmitterContainer is the container KubeRay runs `ray job submit` and
// `ray job logs --follow` in, in both submission modes.
const SubmitterContainer = "ray-job-submitter"

// ErrNoSubmitter means the submitter pod does not exist (yet).
var ErrNoSubmitter = errors.New("no submitter pod yet")

// LogTarget is one container whose log can be streamed.
type LogTarget struct {
	Pod       string
	Container string
}

// LogSource is what FollowLogs needs from a cluster. The real one talks to
// the API server; the API server cannot serve logs without a kubelet, so the
// reconnect logic is tested with a fake one.
type LogSource interface {
	// Submitter finds the current submitter container, or ErrNoSubmitter.
	Submitter(ctx context.Context) (LogTarget, error)
	// Open streams t's log. Lines start with an RFC 3339 timestamp (as with
	// `kubectl logs --timestamps`); since, when not zero, skips older lines.
	Open(ctx context.Context, t LogTarget, follow bool, since time.Time) (io.ReadCloser, error)
	// Finished reports whether the job has ended, so that no more log is coming.
	Finished(ctx context.Context) (bool, error)
}

// FollowOptions tune FollowLogs.
type FollowOptions struct {
	Follow bool
	// Retry is the pause before reconnecting (default 2s).
	Retry time.Duration
	// Notices receives reconnection messages; nil drops them.
	Notices io.Writer
}

// FollowLogs copies the submitter's log to w. With Follow it keeps going
// until the job ends: when the stream breaks (API server restart, network,
// a submitter retried in a new pod) it reconnects, resuming after the last
// line it printed for the same pod, or from the start of a new pod's log.
func FollowLogs(ctx context.Context, src LogSource, w io.Writer, o FollowOptions) error {
	retry := o.Retry
	if retry <= 0 {
		retry = 2 * time.Second
	}
	notice := func(format string, args ...any) {
		if o.Notices != nil {
			fmt.Fprintf(o.Notices, format+"\n", args...)
		}
	}
	pause := func() error {
		t := time.NewTimer(retry)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	var (
		lastPod  string
		lastTime time.Time
	)
	for {
		t, err := src.Submitter(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, ErrNoSubmitter) {
				return err
			}
			if !o.Follow {
				return err
			}
			done, ferr := src.Finished(ctx)
			if ferr != nil {
				return ferr
			}
			if done { // it ended without a submitter ever running
				return nil
			}
			if err := pause(); err != nil {
				return err
			}
			continue
		}
		since := time.Time{}
		if t.Pod == lastPod {
			since = lastTime
		} else {
			if lastPod != "" {
				notice("--- submitter moved to pod %s; its log starts over ---", t.Pod)
			}
			lastPod, lastTime = t.Pod, time.Time{}
		}
		rc, err := src.Open(ctx, t, o.Follow, since)
		if err == nil {
			lastTime, err = copyLines(w, rc, lastTime)
			rc.Close()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !o.Follow {
			return err
		}
		if done, ferr := src.Finished(ctx); ferr != nil {
			return ferr
		} else if done {
			// One last read without follow picks up lines that arrived
			// between the stream's end and the job's.
			if rc, err := src.Open(ctx, t, false, lastTime); err == nil {
				_, _ = copyLines(w, rc, lastTime)
				rc.Close()
			}
			return nil
		}
		if err != nil {
			notice("--- log stream of %s interrupted (%v); reconnecting ---", t.Pod, err)
		}
		if err := pause(); err != nil {
			return err
		}
	}
}

// copyLines writes each "TIMESTAMP text" line's text to w, skipping lines at
// or before after (already printed before a reconnect). It returns the last
// timestamp written.
func copyLines(w io.Writer, r io.Reader, after time.Time) (time.Time, error) {
	br := bufio.NewReader(r)
	last := after
	emit := func(line string) error {
		text := line
		if ts, rest, ok := strings.Cut(line, " "); ok {
			if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				if !t.After(after) {
					return nil
				}
				text, last = rest, t
			}
		}
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		_, err := io.WriteString(w, text)
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if werr := emit(line); werr != nil {
				return last, werr
			}
		}
		if err == io.EOF {
			return last, nil
		}
		if err != nil {
			return last, err
		}
	}
}

// KubeLogSource finds and streams a RayJob's submitter through the API server.
type KubeLogSource struct {
	*Clients
	Name string // RayJob name
}

// Submitter finds the newest submitter pod: the submitter Job's pod in
// K8sJobMode, the head pod in SidecarMode.
func (s KubeLogSource) Submitter(ctx context.Context) (LogTarget, error) {
	job, err := s.Get(ctx, s.Name)
	if err != nil {
		return LogTarget{}, err
	}
	sel := "batch.kubernetes.io/job-name=" + s.Name
	if job.Spec.SubmissionMode == rayv1.SidecarMode {
		if job.Status.RayClusterName == "" {
			return LogTarget{}, ErrNoSubmitter
		}
		sel = "ray.io/cluster=" + job.Status.RayClusterName + ",ray.io/node-type=head"
	}
	pods, err := s.Kube.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return LogTarget{}, err
	}
	var started []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodPending || hasStarted(&p) {
			started = append(started, p)
		}
	}
	if len(started) == 0 {
		return LogTarget{}, ErrNoSubmitter
	}
	sort.Slice(started, func(i, j int) bool {
		return started[i].CreationTimestamp.Before(&started[j].CreationTimestamp)
	})
	return LogTarget{Pod: started[len(started)-1].Name, Container: SubmitterContainer}, nil
}

func hasStarted(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == SubmitterContainer && (cs.State.Running != nil || cs.State.Terminated != nil) {
			return true
		}
	}
	return false
}

// Open streams the container's log with timestamps.
func (s KubeLogSource) Open(ctx context.Context, t LogTarget, follow bool, since time.Time) (io.ReadCloser, error) {
	opts := &corev1.PodLogOptions{Container: t.Container, Follow: follow, Timestamps: true}
	if !since.IsZero() {
		st := metav1.NewTime(since)
		opts.SinceTime = &st
	}
	return s.Kube.CoreV1().Pods(s.Namespace).GetLogs(t.Pod, opts).Stream(ctx)
}

// Finished reports whether the RayJob has ended (or is gone).
func (s KubeLogSource) Finished(ctx context.Context) (bool, error) {
	job, err := s.Ray.RayV1().RayJobs(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
	done, _ := Outcome(job)
	return done, nil
}
