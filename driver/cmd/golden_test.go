package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/driver/internal/crdtest"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	rayutils "github.com/ray-project/kuberay/ray-operator/controllers/ray/utils"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in driver/testdata")

// fakeSecrets are credentials present in the environment while the goldens
// are produced: none of them may ever reach a manifest.
var fakeSecrets = map[string]string{
	"AWS_ACCESS_KEY_ID":     "AKIAFAKEFAKEFAKE1234",
	"AWS_SECRET_ACCESS_KEY": "fakeSecretAccessKey/abcdefghijklmnopqrstu",
	"OPENAI_API_KEY":        "sk-fake-openai-key-0123456789abcdef",
	"HF_TOKEN":              "hf_fakeHuggingFaceToken0123456789",
}

type goldenCase struct {
	name string
	args []string // `boostgen train` arguments; nil for data generation
	gen  []string // `boostgen run --on-cluster` flags, with testdata/gen.yaml
}

var goldenCases = []goldenCase{
	{name: "stage1", args: []string{"submit", "--stage", "1", "--name", "sb-7b", "--data", "s3://bkt/blip558k",
		"--init", "hf://Qwen/Qwen2-7B", "--out", "s3://bkt/ckpt/sb-7b/stage1", "--aws-secret", "aws-creds", "--hf-secret", "hf-token"}},
	{name: "stage2", args: []string{"submit", "--stage", "2", "--name", "sb-7b", "--data", "s3://bkt/mv-vqa",
		"--init", "s3://bkt/ckpt/sb-7b/stage1", "--out", "s3://bkt/ckpt/sb-7b/stage2", "--aws-secret", "aws-creds",
		"--node-selector", "cloud.google.com/gke-accelerator=nvidia-h100-80gb", "--worker-pods", "2", "--gpus-per-worker", "8"}},
	{name: "stage3", args: []string{"submit", "--stage", "3", "--name", "sb-7b", "--data", "s3://bkt/spatial",
		"--init", "s3://bkt/ckpt/sb-7b/stage2", "--out", "s3://bkt/ckpt/sb-7b/stage3", "--lr", "1e-5", "--epochs", "2",
		"--toleration", "dedicated=training:NoSchedule", "--service-account", "trainer", "--ray-version", "2.46.0"}},
	{name: "all", args: []string{"submit", "--stage", "all", "--name", "sb-7b", "--data", "1=s3://bkt/blip558k",
		"--data", "2=s3://bkt/mv-vqa", "--data", "3=s3://bkt/spatial", "--init", "hf://Qwen/Qwen2-7B",
		"--out", "s3://bkt/ckpt/sb-7b", "--aws-secret", "aws-creds", "--hf-secret", "hf-token:token", "--batch-size", "1=512"}},
	{name: "existing-cluster", args: []string{"submit", "--stage", "1", "--name", "quick", "--data", "s3://bkt/blip558k",
		"--out", "s3://bkt/ckpt/quick/stage1", "--cluster", "gpu-pool", "--worker-pods", "2", "--gpus-per-worker", "1"}},
	{name: "sidecar", args: []string{"submit", "--stage", "1", "--name", "side", "--data", "s3://bkt/blip558k",
		"--out", "s3://bkt/ckpt/side/stage1", "--submission-mode", "SidecarMode", "--keep-cluster", "--active-deadline", "0"}},
	{name: "datagen", gen: []string{"--job-name", "gen-coco", "--shards", "16", "--openai-secret", "openai",
		"--aws-secret", "aws-creds"}},
	{name: "datagen-gpu", gen: []string{"--job-name", "gen-scannet", "--shards", "4", "--gpus-per-shard", "1",
		"--cpus-per-shard", "4", "--worker-pods", "2", "--gpus-per-worker", "2", "--hf-secret", "hf-token", "--submission-mode", "SidecarMode"}},
}

// render runs the command and returns what it printed.
func render(t *testing.T, c goldenCase, format string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	if c.gen != nil {
		o := NewRunOnClusterOptions(streams)
		fs := newFlagSet()
		o.AddFlags(fs)
		if err := fs.Parse(append([]string{"-n", "data", "--print-rayjob", format}, c.gen...)); err != nil {
			t.Fatal(err)
		}
		if err := o.Complete(filepath.Join("..", "testdata", "gen.yaml"), "s3://bkt/datasets/coco-spatial"); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	cmd := NewTrainCommand(streams)
	cmd.SetArgs(append(c.args, "-n", "train", "--dry-run", "-o", format))
	cmd.SetOut(&errOut)
	cmd.SetErr(&errOut)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	return out.Bytes()
}

func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(b, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func TestDryRunGolden(t *testing.T) {
	for k, v := range fakeSecrets {
		t.Setenv(k, v)
	}
	crdPath, err := crdtest.RayJobCRDPath()
	if err != nil {
		t.Fatal(err)
	}
	crd, err := crdtest.LoadCRD(crdPath)
	if err != nil {
		t.Fatal(err)
	}
	validator, err := crdtest.NewValidator(crd, "v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			got := render(t, c, "yaml")
			golden := filepath.Join("..", "testdata", c.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./driver/cmd -run TestDryRunGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("dry-run output differs from %s (rerun with -update if intended):\n%s", golden, got)
			}
			assertNoSecrets(t, got)
			for i, doc := range splitDocs(got) {
				obj, err := crdtest.Decode(doc)
				if err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				if err := validator.Validate(obj); err != nil {
					t.Errorf("document %d violates the RayJob CRD:\n%v", i, err)
				}
				var job rayv1.RayJob
				if err := yaml.UnmarshalStrict(doc, &job); err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				if err := rayutils.ValidateRayJobMetadata(job.ObjectMeta); err != nil {
					t.Errorf("document %d: KubeRay: %v", i, err)
				}
				if err := rayutils.ValidateRayJobSpec(&job); err != nil {
					t.Errorf("document %d: KubeRay: %v", i, err)
				}
			}
		})
	}
}

var secretishEnv = regexp.MustCompile(`(?i)(KEY|TOKEN|SECRET|PASSWORD)`)

// assertNoSecrets checks that no credential value from the environment is in
// the output, and that credential-like env vars come only from Secrets.
func assertNoSecrets(t *testing.T, out []byte) {
	t.Helper()
	for name, v := range fakeSecrets {
		if bytes.Contains(out, []byte(v)) {
			t.Errorf("the value of $%s appears in the output", name)
		}
	}
	for _, doc := range splitDocs(out) {
		var job rayv1.RayJob
		if err := yaml.Unmarshal(doc, &job); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(job.Spec.RuntimeEnvYAML, "env_vars") {
			t.Errorf("runtimeEnvYAML sets environment variables: %q", job.Spec.RuntimeEnvYAML)
		}
		if job.Spec.RayClusterSpec == nil {
			continue
		}
		spec := job.Spec.RayClusterSpec
		containers := append([]corev1.Container(nil), spec.HeadGroupSpec.Template.Spec.Containers...)
		for _, w := range spec.WorkerGroupSpecs {
			containers = append(containers, w.Template.Spec.Containers...)
		}
		for _, c := range containers {
			for _, e := range c.Env {
				if secretishEnv.MatchString(e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("container %s: env %s does not come from a secretKeyRef", c.Name, e.Name)
				}
			}
		}
	}
}

func newFlagSet() *pflag.FlagSet { return pflag.NewFlagSet("run", pflag.ContinueOnError) }

func TestDryRunJSONIsAList(t *testing.T) {
	var all goldenCase
	for _, c := range goldenCases {
		if c.name == "all" {
			all = c
		}
	}
	var list struct {
		Kind  string         `json:"kind"`
		Items []rayv1.RayJob `json:"items"`
	}
	if err := json.Unmarshal(render(t, all, "json"), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || len(list.Items) != 3 {
		t.Fatalf("got kind %q with %d items, want a List of 3", list.Kind, len(list.Items))
	}
	// Each stage starts from the previous one's checkpoint.
	for i, want := range []string{"--init hf://Qwen/Qwen2-7B", "--init s3://bkt/ckpt/sb-7b/stage1", "--init s3://bkt/ckpt/sb-7b/stage2"} {
		if !strings.Contains(list.Items[i].Spec.Entrypoint, want) {
			t.Errorf("stage %d entrypoint %q lacks %q", i+1, list.Items[i].Spec.Entrypoint, want)
		}
	}
}
