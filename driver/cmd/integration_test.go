package cmd

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	rayclient "github.com/ray-project/kuberay/ray-operator/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"

	"github.com/boostgen/boostgen/driver"
	"github.com/boostgen/boostgen/driver/internal/kubetest"
	"github.com/boostgen/boostgen/internal/testenv"
)

// One control plane serves every test in the package; each test works in
// its own namespace.
var (
	kubeOnce    sync.Once
	kubeCluster *kubetest.Cluster
	kubeErr     error
	kubeDir     string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if kubeCluster != nil {
		kubeCluster.Stop()
	}
	if kubeDir != "" {
		os.RemoveAll(kubeDir)
	}
	os.Exit(code)
}

// env is one test's view of the cluster.
type env struct {
	t    *testing.T
	c    *kubetest.Cluster
	ns   string
	ray  rayclient.Interface
	kube kubernetes.Interface
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if _, _, err := kubetest.Binaries(); err != nil {
		testenv.SkipOrFail(t, err)
	}
	kubeOnce.Do(func() {
		kubeDir, kubeErr = os.MkdirTemp("", "boostgen-kube-")
		if kubeErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		kubeCluster, kubeErr = kubetest.Start(ctx, kubeDir)
	})
	if kubeErr != nil {
		t.Fatal(kubeErr)
	}
	e := &env{t: t, c: kubeCluster}
	e.ray = rayclient.NewForConfigOrDie(kubeCluster.Config)
	e.kube = kubernetes.NewForConfigOrDie(kubeCluster.Config)
	e.ns = strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(e.ns) > 50 {
		e.ns = e.ns[:50]
	}
	e.ns = strings.Trim(e.ns, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	if _, err := e.kube.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// syncBuffer is a goroutine-safe buffer that can wait for text to appear.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor blocks until the buffer contains s.
func (b *syncBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		has, ch := strings.Contains(b.buf.String(), s), b.changed
		b.mu.Unlock()
		if has {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %q in:\n%s", s, b.String())
		}
	}
}

// run is one invocation of `boostgen train`.
type run struct {
	out, errOut *syncBuffer
	done        chan int // the exit status
}

// start runs `boostgen train args...` against the test cluster.
func (e *env) start(args ...string) *run {
	r := &run{out: newSyncBuffer(), errOut: newSyncBuffer(), done: make(chan int, 1)}
	cmd := NewTrainCommand(IOStreams{In: strings.NewReader(""), Out: r.out, ErrOut: r.errOut})
	cmd.SetArgs(append(args, "--kubeconfig", e.c.Kubeconfig, "-n", e.ns))
	cmd.SetOut(r.errOut)
	cmd.SetErr(r.errOut)
	go func() { r.done <- ExitCode(cmd.ExecuteContext(context.Background())) }()
	return r
}

func (r *run) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("command did not finish; stderr:\n%s", r.errOut.String())
		return -1
	}
}

// runSync runs a command to completion.
func (e *env) run(args ...string) (int, string, string) {
	r := e.start(args...)
	code := r.exit(e.t)
	return code, r.out.String(), r.errOut.String()
}

func (e *env) secret(name string, data map[string]string) {
	e.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}
	if _, err := e.kube.CoreV1().Secrets(e.ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// waitJob waits for the RayJob to exist.
func (e *env) waitJob(name string) *rayv1.RayJob {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := e.ray.RayV1().RayJobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			return j
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			e.t.Fatalf("RayJob %s: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the API server, not synchronising goroutines
	}
}

// setStatus plays the KubeRay operator: it writes the status subresource.
func (e *env) setStatus(name string, deploy rayv1.JobDeploymentStatus, job rayv1.JobStatus, mutate ...func(*rayv1.RayJobStatus)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		j, err := e.ray.RayV1().RayJobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		j.Status.JobDeploymentStatus, j.Status.JobStatus = deploy, job
		for _, m := range mutate {
			m(&j.Status)
		}
		_, err = e.ray.RayV1().RayJobs(e.ns).UpdateStatus(context.Background(), j, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

var stage1Args = []string{"submit", "--stage", "1", "--name", "it", "--data", "s3://bkt/blip558k",
	"--init", "hf://Qwen/Qwen2-7B", "--out", "s3://bkt/ckpt/it/stage1"}

func TestSubmitCreatesTheRayJob(t *testing.T) {
	e := newEnv(t)
	e.secret("aws-creds", map[string]string{"AWS_ACCESS_KEY_ID": "AKIAFAKE", "AWS_SECRET_ACCESS_KEY": "supersecretvalue123"})
	e.secret("hf-token", map[string]string{"HF_TOKEN": "hf_supersecrettoken"})
	code, out, errOut := e.run(append(stage1Args, "--aws-secret", "aws-creds", "--hf-secret", "hf-token")...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, v := range []string{"supersecretvalue123", "hf_supersecrettoken", "AKIAFAKE"} {
		if strings.Contains(out+errOut, v) {
			t.Errorf("secret value %q printed", v)
		}
	}
	j := e.waitJob("it-s1")
	if j.Labels[driver.LabelRun] != "it" || j.Labels[driver.LabelStage] != "1" {
		t.Errorf("labels %v", j.Labels)
	}
	if !strings.Contains(j.Spec.Entrypoint, "--stage 1 --data s3://bkt/blip558k --init hf://Qwen/Qwen2-7B --out s3://bkt/ckpt/it/stage1 --lr 0.002 --batch-size 256") {
		t.Errorf("entrypoint %q", j.Spec.Entrypoint)
	}
	head := j.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers[0]
	if len(head.EnvFrom) != 1 || head.EnvFrom[0].SecretRef.Name != "aws-creds" {
		t.Errorf("head envFrom %+v", head.EnvFrom)
	}
	if !strings.Contains(errOut, "rayjob.ray.io/it-s1 created") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestSubmitRefusesMissingSecrets(t *testing.T) {
	e := newEnv(t)
	e.secret("hf-token", map[string]string{"HF_TOKEN": "x"})
	code, _, errOut := e.run(append(stage1Args, "--aws-secret", "no-such-aws", "--openai-secret", "no-such-openai", "--hf-secret", "hf-token")...)
	if code != ExitError {
		t.Fatalf("exit %d, want %d: %s", code, ExitError, errOut)
	}
	for _, want := range []string{"no-such-aws", "no-such-openai", e.ns} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error does not name %q: %s", want, errOut)
		}
	}
	if strings.Contains(errOut, `"hf-token"`) {
		t.Errorf("existing secret reported missing: %s", errOut)
	}
	l, err := e.ray.RayV1().RayJobs(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 0 {
		t.Fatalf("a RayJob was created despite missing secrets")
	}
}

func TestWaitExitStatus(t *testing.T) {
	for _, c := range []struct {
		name     string
		deploy   rayv1.JobDeploymentStatus
		job      rayv1.JobStatus
		reason   rayv1.JobFailedReason
		wantCode int
		wantErr  string
	}{
		{"succeeded", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusSucceeded, "", ExitOK, ""},
		{"job failed", rayv1.JobDeploymentStatusFailed, rayv1.JobStatusFailed, rayv1.AppFailed, ExitJobFailed, "reason AppFailed"},
		{"deployment failed while job says running", rayv1.JobDeploymentStatusFailed, rayv1.JobStatusRunning, rayv1.DeadlineExceeded, ExitJobFailed, "job RUNNING, reason DeadlineExceeded"},
		{"stopped", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusStopped, "", ExitJobStopped, "was stopped"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.start(append(stage1Args, "--wait")...)
			e.waitJob("it-s1")
			r.errOut.waitFor(t, "it-s1: -") // the watcher has seen the new job
			e.setStatus("it-s1", rayv1.JobDeploymentStatusInitializing, "")
			r.errOut.waitFor(t, "it-s1: Initializing\n")
			e.setStatus("it-s1", rayv1.JobDeploymentStatusRunning, rayv1.JobStatusRunning)
			r.errOut.waitFor(t, "it-s1: Running/RUNNING\n")
			e.setStatus("it-s1", c.deploy, c.job, func(s *rayv1.RayJobStatus) { s.Reason = c.reason })
			if code := r.exit(t); code != c.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.wantCode, r.errOut)
			}
			if !strings.Contains(r.errOut.String(), c.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", c.wantErr, r.errOut)
			}
		})
	}
}

func TestStageAllChainsAndStopsOnFailure(t *testing.T) {
	e := newEnv(t)
	r := e.start("submit", "--stage", "all", "--name", "ch", "--data", "1=s3://b/blip", "--data", "2=s3://b/mv",
		"--data", "3=s3://b/sp", "--init", "hf://Qwen/Qwen2-7B", "--out", "s3://b/ckpt/ch")
	s1 := e.waitJob("ch-s1")
	if !strings.Contains(s1.Spec.Entrypoint, "--out s3://b/ckpt/ch/stage1") {
		t.Fatalf("stage 1 entrypoint %q", s1.Spec.Entrypoint)
	}
	r.errOut.waitFor(t, "ch-s1: -")
	e.setStatus("ch-s1", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusSucceeded)
	s2 := e.waitJob("ch-s2")
	if !strings.Contains(s2.Spec.Entrypoint, "--init s3://b/ckpt/ch/stage1 --out s3://b/ckpt/ch/stage2") {
		t.Fatalf("stage 2 does not start from stage 1: %q", s2.Spec.Entrypoint)
	}
	r.errOut.waitFor(t, "ch-s2: -")
	e.setStatus("ch-s2", rayv1.JobDeploymentStatusFailed, rayv1.JobStatusFailed, func(s *rayv1.RayJobStatus) {
		s.Reason, s.Message = rayv1.AppFailed, "CUDA out of memory"
	})
	if code := r.exit(t); code != ExitJobFailed {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitJobFailed, r.errOut)
	}
	if !strings.Contains(r.errOut.String(), "CUDA out of memory") || !strings.Contains(r.errOut.String(), "stages after 2 were not submitted") {
		t.Errorf("stderr:\n%s", r.errOut)
	}
	if _, err := e.ray.RayV1().RayJobs(e.ns).Get(context.Background(), "ch-s3", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("stage 3 was submitted after stage 2 failed (err %v)", err)
	}
}

func TestCancelStopsTheJobAndTheWaiter(t *testing.T) {
	e := newEnv(t)
	if code, _, errOut := e.run(stage1Args...); code != ExitOK {
		t.Fatalf("submit: exit %d: %s", code, errOut)
	}
	waiter := e.start("status", "it-s1", "--wait")
	waiter.errOut.waitFor(t, "it-s1: -")
	code, out, errOut := e.run("cancel", "it-s1")
	if code != ExitOK || !strings.Contains(out, "rayjob.ray.io/it-s1 cancelled") {
		t.Fatalf("cancel: exit %d, out %q, err %q", code, out, errOut)
	}
	if _, err := e.ray.RayV1().RayJobs(e.ns).Get(context.Background(), "it-s1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("RayJob still there after cancel (err %v)", err)
	}
	if code := waiter.exit(t); code != ExitJobStopped {
		t.Errorf("waiter exit %d, want %d:\n%s", code, ExitJobStopped, waiter.errOut)
	}
	if code, _, errOut := e.run("cancel", "it-s1"); code != ExitError || !strings.Contains(errOut, `RayJob "it-s1" not found`) {
		t.Errorf("second cancel: exit %d: %s", code, errOut)
	}
}

func TestWaitReportsStuckPods(t *testing.T) {
	e := newEnv(t)
	r := e.start(append(stage1Args, "--wait", "--pod-check-interval", "20ms")...)
	e.waitJob("it-s1")
	r.errOut.waitFor(t, "it-s1: -")
	const cluster = "it-s1-raycluster-x7k2p"
	e.setStatus("it-s1", rayv1.JobDeploymentStatusInitializing, "", func(s *rayv1.RayJobStatus) { s.RayClusterName = cluster })

	ctx := context.Background()
	pods := e.kube.CoreV1().Pods(e.ns)
	mkPod := func(name string, status corev1.PodStatus) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"ray.io/cluster": cluster}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "ray-head", Image: "ghcr.io/boostgen/trainer:nope"}}},
		}
		p, err := pods.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status = status
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkPod(cluster+"-head", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "ray-head", Image: "ghcr.io/boostgen/trainer:nope",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "ghcr.io/boostgen/trainer:nope"`}},
	}}})
	mkPod(cluster+"-gpu-worker-abcde", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
	}}})

	r.errOut.waitFor(t, "it-s1: pod "+cluster+"-head container ray-head: ImagePullBackOff: Back-off pulling image")
	r.errOut.waitFor(t, "it-s1: pod "+cluster+"-gpu-worker-abcde: Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")

	code, out, _ := e.run("status", "it-s1")
	if code != ExitOK || !strings.Contains(out, "Problem:     pod "+cluster+"-head container ray-head: ImagePullBackOff") {
		t.Errorf("status: exit %d:\n%s", code, out)
	}

	e.setStatus("it-s1", rayv1.JobDeploymentStatusFailed, "", func(s *rayv1.RayJobStatus) { s.Reason = rayv1.DeadlineExceeded })
	if code := r.exit(t); code != ExitJobFailed {
		t.Fatalf("exit %d, want %d", code, ExitJobFailed)
	}
	// Each problem is reported once, not at every check.
	if n := strings.Count(r.errOut.String(), "ImagePullBackOff"); n != 1 {
		t.Errorf("ImagePullBackOff reported %d times:\n%s", n, r.errOut)
	}
}

// The kubeconfig is found as kubectl finds it: $KUBECONFIG, --context and
// the context's namespace.
func TestKubeconfigResolution(t *testing.T) {
	e := newEnv(t)
	if code, _, errOut := e.run(stage1Args...); code != ExitOK {
		t.Fatalf("submit: %s", errOut)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["real"] = &clientcmdapi.Cluster{Server: e.c.URL, CertificateAuthorityData: e.c.CA()}
	kc.Clusters["gone"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", CertificateAuthorityData: e.c.CA()}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: e.c.Token()}
	kc.Contexts["work"] = &clientcmdapi.Context{Cluster: "real", AuthInfo: "admin", Namespace: e.ns}
	kc.Contexts["broken"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "admin"}
	kc.CurrentContext = "broken"
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", path)

	list := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		cmd := NewTrainCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		cmd.SetArgs(args)
		cmd.SetOut(&errOut)
		cmd.SetErr(&errOut)
		return ExitCode(cmd.Execute()), out.String(), errOut.String()
	}
	code, out, errOut := list("list", "--context", "work")
	if code != ExitOK || !regexp.MustCompile(`(?m)^it-s1\s+train\s+it\s+1\s`).MatchString(out) {
		t.Fatalf("list --context work: exit %d:\n%s%s", code, out, errOut)
	}
	if code, _, errOut := list("list"); code != ExitError || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("list on the broken current context: exit %d: %s", code, errOut)
	}
	code, out, errOut = list("status", "it-s1", "--context", "work", "-o", "yaml")
	if code != ExitOK || !strings.Contains(out, "kind: RayJob") || !strings.Contains(out, "name: it-s1") || strings.Contains(out, "managedFields") {
		t.Errorf("status -o yaml: exit %d:\n%s%s", code, out, errOut)
	}
	// --kubeconfig wins over $KUBECONFIG.
	if code, out, errOut := list("list", "--kubeconfig", e.c.Kubeconfig, "-n", e.ns); code != ExitOK || !strings.Contains(out, "it-s1") {
		t.Errorf("list --kubeconfig: exit %d:\n%s%s", code, out, errOut)
	}
}

// KubeRay keeps a cancelled RayJob until its finalizer has stopped the Ray
// job; a waiter must not hang on it meanwhile.
func TestCancelWithOperatorFinalizer(t *testing.T) {
	e := newEnv(t)
	if code, _, errOut := e.run(stage1Args...); code != ExitOK {
		t.Fatalf("submit: %s", errOut)
	}
	const finalizer = "ray.io/rayjob-finalizer"
	j := e.waitJob("it-s1")
	j.Finalizers = append(j.Finalizers, finalizer)
	if _, err := e.ray.RayV1().RayJobs(e.ns).Update(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waiter := e.start("status", "it-s1", "--wait")
	waiter.errOut.waitFor(t, "it-s1: -")
	if code, _, errOut := e.run("cancel", "it-s1"); code != ExitOK {
		t.Fatalf("cancel: %s", errOut)
	}
	if code := waiter.exit(t); code != ExitJobStopped || !strings.Contains(waiter.errOut.String(), "being deleted") {
		t.Errorf("waiter exit %d, want %d:\n%s", code, ExitJobStopped, waiter.errOut)
	}
	// Play the operator: drop the finalizer so the namespace can go.
	j, err := e.ray.RayV1().RayJobs(e.ns).Get(context.Background(), "it-s1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.Finalizers = nil
	if _, err := e.ray.RayV1().RayJobs(e.ns).Update(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Without a kubelet the API server serves an empty log for the submitter
// pod, so --follow keeps reconnecting; it must still end with the job and
// take its exit status from it. (What the log carries, and reconnects that
// resume mid-log, are tested with a fake LogSource in the driver package.)
func TestFollowEndsWithTheJob(t *testing.T) {
	e := newEnv(t)
	r := e.start(append(stage1Args, "--follow", "--log-retry", "10ms")...)
	e.waitJob("it-s1")
	r.errOut.waitFor(t, "it-s1: -")
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "it-s1-abcde", Labels: map[string]string{"batch.kubernetes.io/job-name": "it-s1"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: driver.SubmitterContainer, Image: "rayproject/ray"}}},
	}
	ctx := context.Background()
	p, err := e.kube.CoreV1().Pods(e.ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: driver.SubmitterContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}}
	if _, err := e.kube.CoreV1().Pods(e.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.setStatus("it-s1", rayv1.JobDeploymentStatusRunning, rayv1.JobStatusRunning)
	r.errOut.waitFor(t, "it-s1: Running/RUNNING")
	e.setStatus("it-s1", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusSucceeded)
	if code := r.exit(t); code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, r.errOut)
	}
	if strings.Contains(r.errOut.String(), "log streaming stopped") {
		t.Errorf("the log follower gave up:\n%s", r.errOut)
	}
}

func TestRunOnClusterSubmits(t *testing.T) {
	e := newEnv(t)
	e.secret("openai", map[string]string{"OPENAI_API_KEY": "sk-very-secret"})
	var out, errOut bytes.Buffer
	o := NewRunOnClusterOptions(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	fs := newFlagSet()
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--kubeconfig", e.c.Kubeconfig, "-n", e.ns, "--job-name", "gen-it", "--shards", "3", "--openai-secret", "openai"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Complete(filepath.Join("..", "testdata", "gen.yaml"), "s3://bkt/out/gen-it"); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	j := e.waitJob("gen-it")
	if j.Labels[driver.LabelComponent] != "datagen" || j.Annotations[driver.AnnotationOut] != "s3://bkt/out/gen-it" {
		t.Errorf("metadata %v %v", j.Labels, j.Annotations)
	}
	if strings.Contains(out.String()+errOut.String(), "sk-very-secret") {
		t.Error("secret value printed")
	}
	// A missing Secret stops the submission.
	o2 := NewRunOnClusterOptions(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	fs2 := newFlagSet()
	o2.AddFlags(fs2)
	if err := fs2.Parse([]string{"--kubeconfig", e.c.Kubeconfig, "-n", e.ns, "--job-name", "gen-2", "--hf-secret", "nope"}); err != nil {
		t.Fatal(err)
	}
	if err := o2.Complete(filepath.Join("..", "testdata", "gen.yaml"), "s3://bkt/out/gen-2"); err != nil {
		t.Fatal(err)
	}
	if err := o2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err %v, want missing secret nope", err)
	}
}

// recordingTransport keeps what the API server sent back for Secrets.
type recordingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string // "ACCEPT -> BODY"
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "/secrets") {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.seen = append(r.seen, req.Header.Get("Accept")+" -> "+string(body))
	r.mu.Unlock()
	return resp, nil
}

// The existence check must not make the API server send secret values.
func TestCheckSecretsReceivesNoValues(t *testing.T) {
	e := newEnv(t)
	const value = "do-not-transfer-me-42"
	e.secret("openai", map[string]string{"OPENAI_API_KEY": value})
	cfg := rest.CopyConfig(e.c.Config)
	rec := &recordingTransport{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	cl, err := driver.NewClients(cfg, e.ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.CheckSecrets(context.Background(), []string{"openai"}); err != nil {
		t.Fatal(err)
	}
	var missing *driver.MissingSecretsError
	if err := cl.CheckSecrets(context.Background(), []string{"openai", "absent"}); !errors.As(err, &missing) || strings.Join(missing.Names, ",") != "absent" {
		t.Fatalf("err %v, want absent reported missing", err)
	}
	if len(rec.seen) == 0 {
		t.Fatal("no Secret request seen")
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(value))
	for _, s := range rec.seen {
		if !strings.Contains(s, "PartialObjectMetadata") {
			t.Errorf("request did not ask for metadata only: %s", s)
		}
		if strings.Contains(s, value) || strings.Contains(s, encoded) || strings.Contains(s, `"data"`) {
			t.Errorf("the API server sent secret data: %s", s)
		}
	}
}
