package cmd

import (
	"strings"
	"testing"

	"github.com/boostgen/boostgen/driver"
	corev1 "k8s.io/api/core/v1"
)

func TestParseToleration(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    corev1.Toleration
		wantErr bool
	}{
		{"nvidia.com/gpu", corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}, false},
		{"nvidia.com/gpu:NoSchedule", corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}, false},
		{"dedicated=training:NoExecute", corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "training", Effect: corev1.TaintEffectNoExecute}, false},
		{"dedicated=training:Sometimes", corev1.Toleration{}, true},
		{"=x", corev1.Toleration{}, true},
	} {
		got, err := parseToleration(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("parseToleration(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func TestRecipeOverrides(t *testing.T) {
	for _, c := range []struct {
		name              string
		lr, batch, epochs []string
		want              map[driver.Stage]driver.Recipe
		wantErr           string
	}{
		{name: "paper defaults", want: map[driver.Stage]driver.Recipe{1: {LR: 2e-3, BatchSize: 256, Epochs: 1}, 2: {LR: 2e-5, BatchSize: 128, Epochs: 1}, 3: {LR: 2e-5, BatchSize: 128, Epochs: 1}}},
		{name: "one value for all, one per stage", lr: []string{"1e-4", "3=1e-6"}, batch: []string{"2=64"},
			want: map[driver.Stage]driver.Recipe{1: {LR: 1e-4, BatchSize: 256, Epochs: 1}, 2: {LR: 1e-4, BatchSize: 64, Epochs: 1}, 3: {LR: 1e-6, BatchSize: 128, Epochs: 1}}},
		{name: "stage out of range", lr: []string{"4=1e-4"}, wantErr: "stage 4"},
		{name: "not a number", epochs: []string{"two"}, wantErr: `--epochs "two"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := recipes(driver.AllStages, c.lr, c.batch, c.epochs)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for s, r := range c.want {
				if got[s] != r {
					t.Errorf("stage %d: %+v, want %+v", s, got[s], r)
				}
			}
		})
	}
}

func TestSubmitFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--stage", "4", "--data", "s3://b/d"}, "--stage"},
		{[]string{"--stage", "1", "--data", "s3://b/d", "-o", "yaml"}, "-o only applies with --dry-run"},
		{[]string{"--stage", "1", "--data", "s3://b/d", "--dry-run", "--wait"}, "nothing to wait for"},
		{[]string{"--stage", "1", "--data", "s3://b/d", "--dry-run", "-o", "xml"}, `-o "xml"`},
		{[]string{"--stage", "1", "--data", "s3://b/d", "--dry-run", "--node-selector", "gpu"}, "--node-selector"},
		{[]string{"--stage", "1", "--data", "s3://b/d", "--dry-run", "--hf-secret", "HF"}, "--hf-secret"},
		{[]string{"--stage", "1", "--data", "s3://b/d", "--dry-run", "--name", "Run_1"}, "Run_1"},
		{[]string{"--data", "s3://b/d"}, `"stage" not set`},
	} {
		var out, errOut strings.Builder
		cmd := NewTrainCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		cmd.SetArgs(append([]string{"submit"}, c.args...))
		cmd.SetOut(&errOut)
		cmd.SetErr(&errOut)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), c.wantErr) || ExitCode(err) != ExitError {
			t.Errorf("%v: err %v, want one containing %q", c.args, err, c.wantErr)
		}
		if out.Len() != 0 {
			t.Errorf("%v: printed %q on stdout", c.args, out.String())
		}
	}
}
