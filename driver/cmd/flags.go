package cmd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/boostgen/boostgen/driver"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
)

// addKubeFlags adds kubectl's connection flags.
func addKubeFlags(fs *pflag.FlagSet, k *driver.KubeFlags) {
	fs.StringVar(&k.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&k.Context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.StringVarP(&k.Namespace, "namespace", "n", "", "namespace (default: the context's namespace)")
}

// clusterFlags are the flags that shape the Ray cluster, shared by `train
// submit` and `run --on-cluster`.
type clusterFlags struct {
	c             driver.Cluster
	mode          string
	nodeSelector  []string
	tolerations   []string
	openAI, hf    string
	ttl, deadline time.Duration
	keepCluster   bool
}

// newClusterFlags starts from driver.DefaultCluster; the flags' defaults
// show its values.
func newClusterFlags() *clusterFlags {
	f := &clusterFlags{c: driver.DefaultCluster()}
	f.mode = string(f.c.SubmissionMode)
	f.ttl = time.Duration(f.c.TTLSecondsAfterFinished) * time.Second
	f.deadline = time.Duration(f.c.ActiveDeadlineSeconds) * time.Second
	return f
}

func (f *clusterFlags) add(fs *pflag.FlagSet) {
	c := &f.c
	fs.StringVar(&c.Image, "image", "", "trainer image (default "+driver.DefaultImage()+")")
	fs.StringVar(&c.Existing, "cluster", "", "submit to this existing RayCluster instead of creating one (clusterSelector); --worker-pods and --gpus-per-worker then describe its GPU workers")
	fs.StringVar(&f.mode, "submission-mode", f.mode, "K8sJobMode (a submitter Job, retried) or SidecarMode (a submitter container in the head pod)")
	fs.StringVar(&c.RayVersion, "ray-version", "", "Ray version in the image, for KubeRay (optional)")
	fs.StringVar(&c.HeadCPU, "head-cpu", c.HeadCPU, "CPU for the head pod")
	fs.StringVar(&c.HeadMemory, "head-memory", c.HeadMemory, "memory for the head pod")
	fs.Int32Var(&c.Workers, "worker-pods", c.Workers, "number of Ray worker pods")
	fs.Int32Var(&c.GPUsPerWorker, "gpus-per-worker", c.GPUsPerWorker, "GPUs per worker pod (0: CPU only)")
	fs.StringVar(&c.GPUResource, "gpu-resource", c.GPUResource, "extended resource name of a GPU")
	fs.StringVar(&c.WorkerCPU, "worker-cpu", c.WorkerCPU, "CPU per worker pod")
	fs.StringVar(&c.WorkerMemory, "worker-memory", c.WorkerMemory, "memory per worker pod")
	fs.StringArrayVar(&f.nodeSelector, "node-selector", nil, "worker node selector KEY=VALUE (repeatable)")
	fs.StringArrayVar(&f.tolerations, "toleration", nil, "worker toleration KEY[=VALUE][:EFFECT] (repeatable; default: tolerate the GPU resource taint)")
	fs.StringVar(&c.ServiceAccount, "service-account", "", "service account for the Ray pods (e.g. one bound to a cloud IAM role)")
	fs.StringVar(&c.Secrets.AWS, "aws-secret", "", "Secret whose keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, …) become environment variables")
	fs.StringVar(&f.openAI, "openai-secret", "", "Secret holding the OpenAI API key, NAME[:KEY] (default key "+driver.EnvOpenAIKey+")")
	fs.StringVar(&f.hf, "hf-secret", "", "Secret holding the Hugging Face token, NAME[:KEY] (default key "+driver.EnvHFToken+")")
	fs.DurationVar(&f.ttl, "ttl", f.ttl, "how long the finished cluster stays up for inspection")
	fs.DurationVar(&f.deadline, "active-deadline", f.deadline, "fail the job after this long (0: no deadline)")
	fs.Int32Var(&c.BackoffLimit, "backoff-limit", 0, "retries of the whole job, each on a fresh cluster")
	fs.BoolVar(&f.keepCluster, "keep-cluster", false, "leave the RayCluster running after the job ends")
}

// cluster resolves the flags into a driver.Cluster.
func (f *clusterFlags) cluster(namespace string) (driver.Cluster, error) {
	c := f.c
	c.Namespace = namespace
	c.SubmissionMode = rayv1.JobSubmissionMode(f.mode)
	c.TTLSecondsAfterFinished = int32(f.ttl / time.Second)
	c.ActiveDeadlineSeconds = int32(f.deadline / time.Second)
	if f.keepCluster {
		c.ShutdownAfterFinish = new(bool)
		c.TTLSecondsAfterFinished = 0
	}
	var err error
	if c.Secrets.OpenAI, err = driver.ParseSecretKey(f.openAI, driver.EnvOpenAIKey); err != nil {
		return c, fmt.Errorf("--openai-secret: %w", err)
	}
	if c.Secrets.HuggingFace, err = driver.ParseSecretKey(f.hf, driver.EnvHFToken); err != nil {
		return c, fmt.Errorf("--hf-secret: %w", err)
	}
	for _, kv := range f.nodeSelector {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return c, fmt.Errorf("--node-selector %q: want KEY=VALUE", kv)
		}
		if c.NodeSelector == nil {
			c.NodeSelector = map[string]string{}
		}
		c.NodeSelector[k] = v
	}
	for _, t := range f.tolerations {
		tol, err := parseToleration(t)
		if err != nil {
			return c, err
		}
		c.Tolerations = append(c.Tolerations, tol)
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// parseToleration reads kubectl taint syntax: KEY[=VALUE][:EFFECT].
func parseToleration(s string) (corev1.Toleration, error) {
	kv, effect, _ := strings.Cut(s, ":")
	k, v, hasValue := strings.Cut(kv, "=")
	if k == "" {
		return corev1.Toleration{}, fmt.Errorf("--toleration %q: want KEY[=VALUE][:EFFECT]", s)
	}
	t := corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists}
	if hasValue {
		t.Operator, t.Value = corev1.TolerationOpEqual, v
	}
	switch e := corev1.TaintEffect(effect); e {
	case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		t.Effect = e
	default:
		return corev1.Toleration{}, fmt.Errorf("--toleration %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", s, effect)
	}
	return t, nil
}

// stageValues parses repeatable "VALUE" or "STAGE=VALUE" flags into a map,
// stage 0 standing for "every stage without its own value".
func stageValues(flag string, vals []string) (map[driver.Stage]string, error) {
	m := map[driver.Stage]string{}
	for _, v := range vals {
		s, rest, ok := strings.Cut(v, "=")
		if n, err := strconv.Atoi(s); ok && err == nil && len(s) == 1 {
			if n < 1 || n > 3 {
				return nil, fmt.Errorf("--%s %q: stage %d: want 1, 2 or 3", flag, v, n)
			}
			m[driver.Stage(n)] = rest
			continue
		}
		m[0] = v
	}
	return m, nil
}

// recipes applies --lr/--batch-size/--epochs overrides to the defaults.
func recipes(stages []driver.Stage, lr, batch, epochs []string) (map[driver.Stage]driver.Recipe, error) {
	lrs, err := stageValues("lr", lr)
	if err != nil {
		return nil, err
	}
	bs, err := stageValues("batch-size", batch)
	if err != nil {
		return nil, err
	}
	eps, err := stageValues("epochs", epochs)
	if err != nil {
		return nil, err
	}
	pick := func(m map[driver.Stage]string, s driver.Stage) (string, bool) {
		if v, ok := m[s]; ok {
			return v, true
		}
		v, ok := m[0]
		return v, ok
	}
	out := map[driver.Stage]driver.Recipe{}
	for _, s := range stages {
		r := driver.DefaultRecipe(s)
		if v, ok := pick(lrs, s); ok {
			if r.LR, err = strconv.ParseFloat(v, 64); err != nil {
				return nil, fmt.Errorf("--lr %q (stage %d): not a number", v, s)
			}
		}
		if v, ok := pick(bs, s); ok {
			if r.BatchSize, err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("--batch-size %q (stage %d): not an integer", v, s)
			}
		}
		if v, ok := pick(eps, s); ok {
			if r.Epochs, err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("--epochs %q (stage %d): not an integer", v, s)
			}
		}
		out[s] = r
	}
	return out, nil
}

func sortedKeys(m map[driver.Stage]string) []driver.Stage {
	var ks []driver.Stage
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}
