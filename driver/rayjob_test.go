package driver

import (
	"bytes"
	"encoding/base64"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOutcome(t *testing.T) {
	now := metav1.Now()
	for _, c := range []struct {
		name        string
		deploy      rayv1.JobDeploymentStatus
		job         rayv1.JobStatus
		deleting    bool
		wantDone    bool
		wantErr     bool
		wantStopped bool
	}{
		{"new", "", "", false, false, false, false},
		{"initializing", rayv1.JobDeploymentStatusInitializing, "", false, false, false, false},
		{"running", rayv1.JobDeploymentStatusRunning, rayv1.JobStatusRunning, false, false, false, false},
		{"job succeeded, cluster not yet complete", rayv1.JobDeploymentStatusRunning, rayv1.JobStatusSucceeded, false, false, false, false},
		{"retrying", rayv1.JobDeploymentStatusRetrying, rayv1.JobStatusFailed, false, false, false, false},
		{"succeeded", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusSucceeded, false, true, false, false},
		{"failed", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusFailed, false, true, true, false},
		{"stopped", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusStopped, false, true, true, true},
		{"deployment failed, job says running", rayv1.JobDeploymentStatusFailed, rayv1.JobStatusRunning, false, true, true, false},
		{"deployment failed, job succeeded", rayv1.JobDeploymentStatusFailed, rayv1.JobStatusSucceeded, false, true, true, false},
		{"validation failed", rayv1.JobDeploymentStatusValidationFailed, "", false, true, true, false},
		{"being deleted", rayv1.JobDeploymentStatusRunning, rayv1.JobStatusRunning, true, true, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := &rayv1.RayJob{ObjectMeta: metav1.ObjectMeta{Name: "j"}}
			j.Status.JobDeploymentStatus, j.Status.JobStatus = c.deploy, c.job
			if c.deleting {
				j.DeletionTimestamp = &now
			}
			done, err := Outcome(j)
			if done != c.wantDone || (err != nil) != c.wantErr || IsStopped(err) != c.wantStopped {
				t.Fatalf("Outcome = %v, %v; want done=%v err=%v stopped=%v", done, err, c.wantDone, c.wantErr, c.wantStopped)
			}
		})
	}
}

func TestDiagnosePod(t *testing.T) {
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "ray-worker", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "m"}}}
	}
	for _, c := range []struct {
		name   string
		status corev1.PodStatus
		want   []string
	}{
		{"healthy", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "ray-worker", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, nil},
		{"still creating is not a problem", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating")}}, nil},
		{"image pull backoff", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("ImagePullBackOff")}}, []string{"pod p container ray-worker: ImagePullBackOff: m"}},
		{"err image pull", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("ErrImagePull")}}, []string{"pod p container ray-worker: ErrImagePull: m"}},
		{"crash loop", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("CrashLoopBackOff")}}, []string{"pod p container ray-worker: CrashLoopBackOff: m"}},
		{"missing secret key", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("CreateContainerConfigError")}}, []string{"pod p container ray-worker: CreateContainerConfigError: m"}},
		{"init container", corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{waiting("ErrImagePull")}}, []string{"pod p container ray-worker: ErrImagePull: m"}},
		{"unschedulable", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/2 nodes"}}},
			[]string{"pod p: Unschedulable: 0/2 nodes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, p := range DiagnosePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: c.status}) {
				got = append(got, p.String())
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestValidateURI(t *testing.T) {
	for _, c := range []struct {
		uri     string
		wantErr string
	}{
		{"s3://bkt/datasets/spatial", ""},
		{"hf://Qwen/Qwen2-7B", ""},
		{"gs://b/x=1,y@rev", ""},
		{"/mnt/data/run1", ""},
		{"", "empty"},
		{"s3://b/x?X-Amz-Signature=abc", "presigned"},
		{"https://user:pass@host/x", "user information"},
		{"s3://b/my data", "only letters"},
		{"s3://b/x;rm -rf /", "only letters"},
		{"s3://b/$(id)", "only letters"},
		{"s3://b/'x'", "only letters"},
	} {
		err := ValidateURI("data", c.uri)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("ValidateURI(%q) = %v, want error containing %q", c.uri, err, c.wantErr)
		}
		if err != nil && strings.Contains(c.uri, "pass") && strings.Contains(err.Error(), "pass") {
			t.Errorf("error repeats the credential: %v", err)
		}
	}
}

func TestPlanTraining(t *testing.T) {
	recipes := map[Stage]Recipe{}
	for _, s := range AllStages {
		recipes[s] = DefaultRecipe(s)
	}
	t.Run("all stages chain checkpoints", func(t *testing.T) {
		jobs, err := PlanTraining("r", AllStages, map[Stage]string{0: "s3://b/d", 3: "s3://b/spatial"}, "hf://base", "s3://b/ck/", recipes)
		if err != nil {
			t.Fatal(err)
		}
		want := []TrainJob{
			{Run: "r", Stage: 1, Data: "s3://b/d", Init: "hf://base", Out: "s3://b/ck/stage1", Recipe: Recipe{2e-3, 256, 1}},
			{Run: "r", Stage: 2, Data: "s3://b/d", Init: "s3://b/ck/stage1", Out: "s3://b/ck/stage2", Recipe: Recipe{2e-5, 128, 1}},
			{Run: "r", Stage: 3, Data: "s3://b/spatial", Init: "s3://b/ck/stage2", Out: "s3://b/ck/stage3", Recipe: Recipe{2e-5, 128, 1}},
		}
		for i := range want {
			if jobs[i] != want[i] {
				t.Errorf("stage %d: got %+v, want %+v", i+1, jobs[i], want[i])
			}
		}
	})
	for _, c := range []struct {
		name    string
		stages  []Stage
		data    map[Stage]string
		init    string
		run     string
		recipe  Recipe
		wantErr string
	}{
		{"stage 2 alone needs init", []Stage{2}, map[Stage]string{0: "s3://b/d"}, "", "r", DefaultRecipe(2), "stage 2 needs --init"},
		{"missing data for a stage", AllStages, map[Stage]string{1: "s3://b/d"}, "", "r", DefaultRecipe(1), "stage 2: no --data"},
		{"bad lr", []Stage{1}, map[Stage]string{0: "s3://b/d"}, "", "r", Recipe{LR: 0, BatchSize: 1, Epochs: 1}, "learning rate"},
		{"name too long", []Stage{1}, map[Stage]string{0: "s3://b/d"}, "", strings.Repeat("a", 45), DefaultRecipe(1), "at most 47"},
		{"name not DNS-1035", []Stage{1}, map[Stage]string{0: "s3://b/d"}, "", "1run", DefaultRecipe(1), "name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := map[Stage]Recipe{}
			for _, s := range c.stages {
				rs[s] = c.recipe
			}
			_, err := PlanTraining(c.run, c.stages, c.data, c.init, "s3://b/out", rs)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestRunNamesFitEveryStage(t *testing.T) {
	for range 100 {
		n := NewRunName("sb")
		for _, s := range AllStages {
			if err := ValidateName(TrainJob{Run: n, Stage: s}.Name()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestClusterValidate(t *testing.T) {
	ok := DefaultCluster()
	for _, c := range []struct {
		name    string
		mutate  func(*Cluster)
		wantErr string
	}{
		{"default", func(*Cluster) {}, ""},
		{"bad memory", func(c *Cluster) { c.WorkerMemory = "lots" }, "worker memory"},
		{"no workers", func(c *Cluster) { c.Workers = 0 }, "workers 0"},
		{"unknown mode", func(c *Cluster) { c.SubmissionMode = "HTTPMode" }, "submission mode"},
		{"existing cluster with secrets", func(c *Cluster) { c.Existing = "pool"; c.Secrets.AWS = "aws" }, "existing cluster"},
		{"existing cluster in sidecar mode", func(c *Cluster) { c.Existing = "pool"; c.SubmissionMode = rayv1.SidecarMode }, "SidecarMode"},
		{"ttl without shutdown", func(c *Cluster) { f := false; c.ShutdownAfterFinish = &f }, "ttl"},
		{"bad node selector", func(c *Cluster) { c.NodeSelector = map[string]string{"a b": "c"} }, "node selector"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := ok
			c.mutate(&cl)
			err := cl.Validate()
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err %v, want %q", err, c.wantErr)
			}
		})
	}
}

func TestParseSecretKey(t *testing.T) {
	for _, c := range []struct {
		in   string
		want SecretKey
		err  bool
	}{
		{"", SecretKey{}, false},
		{"openai", SecretKey{"openai", "OPENAI_API_KEY"}, false},
		{"openai:key", SecretKey{"openai", "key"}, false},
		{"Bad_Name", SecretKey{}, true},
	} {
		got, err := ParseSecretKey(c.in, "OPENAI_API_KEY")
		if got != c.want || (err != nil) != c.err {
			t.Errorf("ParseSecretKey(%q) = %v, %v", c.in, got, err)
		}
	}
}

// list2cmdline is Python's subprocess.list2cmdline, which `ray job submit`
// uses to turn the arguments after "--" back into one entrypoint string.
func list2cmdline(args []string) string {
	var out []string
	for _, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t") {
			out = append(out, a)
			continue
		}
		var b strings.Builder
		b.WriteByte('"')
		bs := 0
		for _, r := range a {
			switch r {
			case '\\':
				bs++
				continue
			case '"':
				b.WriteString(strings.Repeat(`\`, bs*2+1))
			default:
				b.WriteString(strings.Repeat(`\`, bs))
			}
			bs = 0
			b.WriteRune(r)
		}
		b.WriteString(strings.Repeat(`\`, bs*2))
		b.WriteByte('"')
		out = append(out, b.String())
	}
	return strings.Join(out, " ")
}

// bashWords splits s into words the way bash parses a command line.
func bashWords(t *testing.T, s string) []string {
	t.Helper()
	out, err := exec.Command("bash", "-c", `eval "set -- $1"; printf '%s\0' "$@"`, "_", s).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// The entrypoint goes through the submitter's bash, `ray job submit`'s
// list2cmdline and the head's shell. Both kinds of entrypoint must reach
// the process unchanged.
func TestEntrypointSurvivesTheShells(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	gen := DataGenJob{Name: "g", ConfigName: "../my config.yaml", Config: []byte("a: 'b'\nc: \"$HOME\" `x`\n"), Shards: 3, Out: "s3://b/o", GPUsPerShard: 1}
	train := TrainJob{Run: "r", Stage: 3, Data: "s3://b/d=1,x@y", Init: "hf://Q/Q2", Out: "s3://b/o", Recipe: DefaultRecipe(3)}
	for _, c := range []struct {
		name       string
		entrypoint string
		check      func(t *testing.T, argv []string)
	}{
		{"datagen", gen.Entrypoint(), func(t *testing.T, argv []string) {
			if len(argv) != 3 || argv[0] != "python" || argv[1] != "-c" {
				t.Fatalf("argv %q", argv)
			}
			m := regexp.MustCompile(`^import base64;exec\(base64.b64decode\('([A-Za-z0-9+/=]+)'\)\)$`).FindStringSubmatch(argv[2])
			if m == nil {
				t.Fatalf("code %q", argv[2])
			}
			script, err := base64.StdEncoding.DecodeString(m[1])
			if err != nil {
				t.Fatal(err)
			}
			if string(script) != gen.DriverScript() {
				t.Fatal("the script changed on the way")
			}
			cfg := base64.StdEncoding.EncodeToString(gen.Config)
			if !bytes.Contains(script, []byte(cfg)) || !strings.Contains(string(script), `CONFIG_NAME = "my_config.yaml"`) {
				t.Fatalf("script lacks the config or its name:\n%s", script)
			}
		}},
		{"train", train.Entrypoint(8, true), func(t *testing.T, argv []string) {
			want := strings.Fields("python -m boostgen_trainer --stage 3 --data s3://b/d=1,x@y --init hf://Q/Q2 --out s3://b/o --lr 2e-05 --batch-size 128 --epochs 1 --num-workers 8 --use-gpu")
			if strings.Join(argv, "\x00") != strings.Join(want, "\x00") {
				t.Fatalf("argv %q, want %q", argv, want)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			once := bashWords(t, c.entrypoint)
			twice := bashWords(t, list2cmdline(once))
			c.check(t, twice)
		})
	}
}

func TestDataGenValidate(t *testing.T) {
	base := DataGenJob{Name: "g", ConfigName: "c.yaml", Config: []byte("x: 1"), Shards: 2, Out: "s3://b/o"}
	for _, c := range []struct {
		name    string
		mutate  func(*DataGenJob)
		wantErr string
	}{
		{"ok", func(*DataGenJob) {}, ""},
		{"empty config", func(j *DataGenJob) { j.Config = nil }, "c.yaml: empty"},
		{"config too big", func(j *DataGenJob) { j.Config = bytes.Repeat([]byte("x"), MaxConfigBytes+1) }, "at most"},
		{"no shards", func(j *DataGenJob) { j.Shards = 0 }, "shards 0"},
		{"bad out", func(j *DataGenJob) { j.Out = "s3://b/o?sig=1" }, "out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := base
			c.mutate(&j)
			err := j.Validate()
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err %v, want %q", err, c.wantErr)
			}
		})
	}
	// The largest allowed config still fits in one argument of bash -c.
	j := base
	j.Config = bytes.Repeat([]byte("x"), MaxConfigBytes)
	if n := len(j.Entrypoint()); n > 120<<10 {
		t.Fatalf("entrypoint of %d bytes exceeds MAX_ARG_STRLEN headroom", n)
	}
}
