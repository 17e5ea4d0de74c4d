// Package driver turns boostgen's training stages and cluster data generation
// into KubeRay RayJobs, submits them, and follows them to the end.
//
// Building a RayJob is pure (this file, stages.go, datagen.go): the same
// inputs give the same object, which is what the golden tests and
// `--dry-run` rely on. Talking to a cluster lives in client.go and wait.go.
package driver

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/boostgen/boostgen/internal/version"
)

// DefaultImage is the trainer image matching this boostgen build
// (internal/version), so the cluster runs the same boostgen as the laptop.
func DefaultImage() string { return "ghcr.io/boostgen/trainer:" + version.Version }

// MaxNameLength is KubeRay's limit on RayJob names: it derives the RayCluster,
// Service and submitter Job names from it and those must stay ≤ 63.
const MaxNameLength = 47

// Labels and annotations that boostgen puts on everything it creates, so that
// `boostgen train list` finds its own jobs and nothing else.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	LabelVersion   = "app.kubernetes.io/version"
	LabelRun       = "boostgen.io/run"
	LabelStage     = "boostgen.io/stage"

	AnnotationData = "boostgen.io/data"
	AnnotationInit = "boostgen.io/init"
	AnnotationOut  = "boostgen.io/out"
	// Data generation: the config file's name and the number of shards.
	AnnotationConfig = "boostgen.io/config"
	AnnotationShards = "boostgen.io/shards"

	ManagedBy = "boostgen"
)

// Where credentials come from. The values stay in Kubernetes Secrets; a
// RayJob only ever names them.
const (
	EnvOpenAIKey = "OPENAI_API_KEY"
	EnvHFToken   = "HF_TOKEN"
)

// SecretKey names one key of one Secret.
type SecretKey struct {
	Name string // Secret name
	Key  string // key inside the Secret
}

// Secrets says which Kubernetes Secrets hold the credentials the pods need.
// Empty fields mean "not needed".
type Secrets struct {
	// AWS is a Secret whose keys are AWS environment variables
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL…);
	// it reaches the containers whole, through envFrom.
	AWS string
	// OpenAI becomes OPENAI_API_KEY through a secretKeyRef.
	OpenAI SecretKey
	// HuggingFace becomes HF_TOKEN through a secretKeyRef.
	HuggingFace SecretKey
}

// Names lists the distinct Secret names referenced, sorted.
func (s Secrets) Names() []string {
	seen := map[string]bool{}
	for _, n := range []string{s.AWS, s.OpenAI.Name, s.HuggingFace.Name} {
		if n != "" {
			seen[n] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s Secrets) empty() bool { return len(s.Names()) == 0 }

// ParseSecretKey parses "NAME" or "NAME:KEY"; defKey fills a missing KEY.
func ParseSecretKey(s, defKey string) (SecretKey, error) {
	if s == "" {
		return SecretKey{}, nil
	}
	name, key, ok := strings.Cut(s, ":")
	if !ok || key == "" {
		key = defKey
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return SecretKey{}, fmt.Errorf("secret name %q: %s", name, strings.Join(errs, "; "))
	}
	if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
		return SecretKey{}, fmt.Errorf("secret key %q: %s", key, strings.Join(errs, "; "))
	}
	return SecretKey{Name: name, Key: key}, nil
}

// Cluster describes where a RayJob runs: either a RayCluster created for the
// job (the default) or an existing one picked by name.
type Cluster struct {
	Namespace string
	Image     string // defaults to DefaultImage()

	// Existing is the name of a running RayCluster to submit to
	// (spec.clusterSelector). The job then creates no cluster, and credentials
	// must already be configured on that cluster.
	Existing string

	// SubmissionMode is rayv1.K8sJobMode (default: a submitter Job that
	// reconnects across retries) or rayv1.SidecarMode (a submitter container in
	// the head pod: one pod less, no retry).
	SubmissionMode rayv1.JobSubmissionMode

	RayVersion string // spec.rayClusterSpec.rayVersion, if known

	HeadCPU    string // e.g. "4"
	HeadMemory string // e.g. "16Gi"

	Workers       int32  // worker pods
	GPUsPerWorker int32  // GPUs per worker pod, in limits[GPUResource]
	GPUResource   string // default "nvidia.com/gpu"
	WorkerCPU     string
	WorkerMemory  string
	NodeSelector  map[string]string // worker pods' nodeSelector
	Tolerations   []corev1.Toleration

	ServiceAccount string
	Secrets        Secrets

	// ShutdownAfterFinish deletes the RayCluster once the job ends,
	// TTLSecondsAfterFinished later. Nil means true.
	ShutdownAfterFinish     *bool
	TTLSecondsAfterFinished int32
	// ActiveDeadlineSeconds bounds the whole job; 0 means no deadline.
	ActiveDeadlineSeconds int32
	// BackoffLimit is how many times KubeRay retries the job on a fresh cluster.
	BackoffLimit int32
}

// DefaultCluster is one head and one worker with 4 GPUs: the paper trained on
// 4×A100 (Appendix A).
func DefaultCluster() Cluster {
	return Cluster{
		SubmissionMode:          rayv1.K8sJobMode,
		HeadCPU:                 "4",
		HeadMemory:              "16Gi",
		Workers:                 1,
		GPUsPerWorker:           4,
		GPUResource:             "nvidia.com/gpu",
		WorkerCPU:               "32",
		WorkerMemory:            "256Gi",
		TTLSecondsAfterFinished: 300,
		ActiveDeadlineSeconds:   48 * 3600,
	}
}

// Validate checks what a RayJob needs from c, naming the offending field.
func (c Cluster) Validate() error {
	switch c.SubmissionMode {
	case "", rayv1.K8sJobMode, rayv1.SidecarMode:
	default:
		return fmt.Errorf("submission mode %q: want %s or %s", c.SubmissionMode, rayv1.K8sJobMode, rayv1.SidecarMode)
	}
	if c.Existing != "" {
		if errs := validation.IsDNS1123Subdomain(c.Existing); len(errs) > 0 {
			return fmt.Errorf("cluster %q: %s", c.Existing, strings.Join(errs, "; "))
		}
		if c.SubmissionMode == rayv1.SidecarMode {
			return errors.New("cluster: an existing cluster cannot be used in SidecarMode (the sidecar lives in a head pod the job creates)")
		}
		if !c.Secrets.empty() {
			return errors.New("cluster: credentials cannot be attached to an existing cluster; configure them on that cluster's pods")
		}
		return nil
	}
	for _, q := range []struct{ field, v string }{
		{"head CPU", c.HeadCPU}, {"head memory", c.HeadMemory},
		{"worker CPU", c.WorkerCPU}, {"worker memory", c.WorkerMemory},
	} {
		if q.v == "" {
			continue
		}
		if _, err := resource.ParseQuantity(q.v); err != nil {
			return fmt.Errorf("%s %q: %v", q.field, q.v, err)
		}
	}
	if c.Workers < 1 {
		return fmt.Errorf("workers %d: need at least 1", c.Workers)
	}
	if c.GPUsPerWorker < 0 {
		return fmt.Errorf("GPUs per worker %d: must not be negative", c.GPUsPerWorker)
	}
	if c.TTLSecondsAfterFinished < 0 || c.ActiveDeadlineSeconds < 0 || c.BackoffLimit < 0 {
		return errors.New("ttl, deadline and backoff limit must not be negative")
	}
	if c.ShutdownAfterFinish != nil && !*c.ShutdownAfterFinish && c.TTLSecondsAfterFinished > 0 {
		return errors.New("ttl after finished only applies when the cluster shuts down after the job")
	}
	if c.ServiceAccount != "" {
		if errs := validation.IsDNS1123Subdomain(c.ServiceAccount); len(errs) > 0 {
			return fmt.Errorf("service account %q: %s", c.ServiceAccount, strings.Join(errs, "; "))
		}
	}
	for k, v := range c.NodeSelector {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("node selector key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("node selector %s=%q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	return nil
}

// ValidateName checks a RayJob name the way KubeRay does.
func ValidateName(name string) error {
	if len(name) > MaxNameLength {
		return fmt.Errorf("name %q is %d characters; KubeRay allows at most %d", name, len(name), MaxNameLength)
	}
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return fmt.Errorf("name %q: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// The entrypoint string goes through a shell twice (the submitter's bash,
// then Ray's job runner after `ray job submit` re-joins its arguments), so
// the URIs we splice into it may only use characters no shell treats
// specially. That also keeps them free of quoting surprises in YAML.
var uriSafe = regexp.MustCompile(`^[A-Za-z0-9._~:/%+=,@-]+$`)

// ValidateURI checks a data or checkpoint URI: it must be safe to put in a
// command line and must not carry credentials (user:password@ or a presigned
// query string), because it ends up in the RayJob for everyone to read.
func ValidateURI(field, uri string) error {
	if uri == "" {
		return fmt.Errorf("%s: empty URI", field)
	}
	if strings.ContainsAny(uri, "?#") {
		return fmt.Errorf("%s: URI has a query or fragment; presigned URLs carry credentials, use a bucket URI and a credentials Secret instead", field)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	if u.User != nil {
		return fmt.Errorf("%s: URI has user information; credentials belong in a Secret, not in the URI", field)
	}
	if !uriSafe.MatchString(uri) {
		return fmt.Errorf("%s %q: only letters, digits and ._~:/%%+=,@- are allowed", field, uri)
	}
	return nil
}

// jobSpec holds what differs between kinds of RayJob.
type jobSpec struct {
	name        string
	component   string // "train" or "datagen"
	run         string
	stage       string // "" for datagen
	entrypoint  string
	annotations map[string]string
	// env is plain (non-secret) configuration for the Ray containers.
	env []corev1.EnvVar
}

// build assembles the RayJob shared by training and data generation.
func build(c Cluster, s jobSpec) (*rayv1.RayJob, error) {
	if err := ValidateName(s.name); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	labels := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelComponent: s.component,
		LabelRun:       s.run,
		LabelVersion:   labelValue(version.Version),
	}
	if s.stage != "" {
		labels[LabelStage] = s.stage
	}
	mode := c.SubmissionMode
	if mode == "" {
		mode = rayv1.K8sJobMode
	}
	shutdown := c.Existing == "" && (c.ShutdownAfterFinish == nil || *c.ShutdownAfterFinish)
	job := &rayv1.RayJob{
		TypeMeta: metav1.TypeMeta{APIVersion: rayv1.GroupVersion.String(), Kind: "RayJob"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.name,
			Namespace:   c.Namespace,
			Labels:      labels,
			Annotations: s.annotations,
		},
		Spec: rayv1.RayJobSpec{
			Entrypoint:               s.entrypoint,
			SubmissionMode:           mode,
			ShutdownAfterJobFinishes: shutdown,
			BackoffLimit:             ptr.To(c.BackoffLimit),
		},
	}
	if shutdown {
		job.Spec.TTLSecondsAfterFinished = c.TTLSecondsAfterFinished
	}
	if c.ActiveDeadlineSeconds > 0 {
		job.Spec.ActiveDeadlineSeconds = ptr.To(c.ActiveDeadlineSeconds)
	}
	if c.Existing != "" {
		job.Spec.ClusterSelector = map[string]string{"ray.io/cluster": c.Existing}
		return job, nil
	}
	job.Spec.RayClusterSpec = clusterSpec(c, labels, s.env)
	return job, nil
}

func clusterSpec(c Cluster, labels map[string]string, env []corev1.EnvVar) *rayv1.RayClusterSpec {
	image := c.Image
	if image == "" {
		image = DefaultImage()
	}
	gpu := corev1.ResourceName(c.GPUResource)
	if gpu == "" {
		gpu = "nvidia.com/gpu"
	}
	env = append(append([]corev1.EnvVar(nil), env...), secretEnv(c.Secrets)...)
	envFrom := secretEnvFrom(c.Secrets)
	podLabels := map[string]string{
		LabelManagedBy: labels[LabelManagedBy],
		LabelComponent: labels[LabelComponent],
		LabelRun:       labels[LabelRun],
	}
	if st, ok := labels[LabelStage]; ok {
		podLabels[LabelStage] = st
	}

	head := corev1.Container{
		Name:      "ray-head",
		Image:     image,
		Env:       env,
		EnvFrom:   envFrom,
		Resources: cpuMem(c.HeadCPU, c.HeadMemory),
	}
	worker := corev1.Container{
		Name:      "ray-worker",
		Image:     image,
		Env:       env,
		EnvFrom:   envFrom,
		Resources: cpuMem(c.WorkerCPU, c.WorkerMemory),
	}
	tolerations := c.Tolerations
	if c.GPUsPerWorker > 0 {
		q := *resource.NewQuantity(int64(c.GPUsPerWorker), resource.DecimalSI)
		if worker.Resources.Limits == nil {
			worker.Resources.Limits = corev1.ResourceList{}
		}
		worker.Resources.Limits[gpu] = q
		if tolerations == nil {
			// GPU node pools are usually tainted with the GPU resource name.
			tolerations = []corev1.Toleration{{Key: string(gpu), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}
	}
	groupName := "gpu"
	if c.GPUsPerWorker == 0 {
		groupName = "cpu"
	}
	return &rayv1.RayClusterSpec{
		RayVersion: c.RayVersion,
		HeadGroupSpec: rayv1.HeadGroupSpec{
			// num-cpus 0 keeps Ray tasks and Train workers off the head: it
			// only runs the driver and the dashboard.
			RayStartParams: map[string]string{"num-cpus": "0", "dashboard-host": "0.0.0.0"},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName: c.ServiceAccount,
					Containers:         []corev1.Container{head},
				},
			},
		},
		WorkerGroupSpecs: []rayv1.WorkerGroupSpec{{
			GroupName:      groupName,
			Replicas:       ptr.To(c.Workers),
			MinReplicas:    ptr.To(c.Workers),
			MaxReplicas:    ptr.To(c.Workers),
			RayStartParams: map[string]string{},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName: c.ServiceAccount,
					Containers:         []corev1.Container{worker},
					NodeSelector:       c.NodeSelector,
					Tolerations:        tolerations,
				},
			},
		}},
	}
}

func cpuMem(cpu, mem string) corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	set := func(name corev1.ResourceName, v string) {
		if v == "" {
			return
		}
		q := resource.MustParse(v) // checked by Cluster.Validate
		if r.Requests == nil {
			r.Requests, r.Limits = corev1.ResourceList{}, corev1.ResourceList{}
		}
		r.Requests[name] = q
		r.Limits[name] = q
	}
	set(corev1.ResourceCPU, cpu)
	set(corev1.ResourceMemory, mem)
	return r
}

// secretEnv references secret keys; Kubernetes resolves them when it starts
// the container, so no value ever passes through boostgen.
func secretEnv(s Secrets) []corev1.EnvVar {
	var env []corev1.EnvVar
	ref := func(name string, k SecretKey) {
		if k.Name == "" {
			return
		}
		env = append(env, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: k.Name}, Key: k.Key},
		}})
	}
	ref(EnvOpenAIKey, s.OpenAI)
	ref(EnvHFToken, s.HuggingFace)
	return env
}

func secretEnvFrom(s Secrets) []corev1.EnvFromSource {
	if s.AWS == "" {
		return nil
	}
	return []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.AWS}}}}
}

// labelValue makes s a valid label value (versions like "0.1.0+dirty" are not).
func labelValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-_.")
}
