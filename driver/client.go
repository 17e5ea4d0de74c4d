package driver

import (
	"context"
	"errors"
	"fmt"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	rayclient "github.com/ray-project/kuberay/ray-operator/pkg/client/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/boostgen/boostgen/internal/version"
)

// KubeFlags are kubectl's connection flags, resolved the way kubectl does:
// --kubeconfig, else $KUBECONFIG (a list), else ~/.kube/config; then
// --context and --namespace override what the kubeconfig says.
type KubeFlags struct {
	Kubeconfig string
	Context    string
	Namespace  string
}

// Clients is everything boostgen talks to on a cluster.
type Clients struct {
	Namespace string
	Ray       rayclient.Interface
	Kube      kubernetes.Interface
	// Metadata reads objects without their content: how boostgen checks that
	// a Secret exists without ever receiving its values.
	Metadata metadata.Interface
}

// Connect loads the kubeconfig and builds the clients.
func (f KubeFlags) Connect() (*Clients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.Context}
	overrides.Context.Namespace = f.Namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig namespace: %w", err)
	}
	return NewClients(cfg, ns)
}

// NewClients builds the clients for cfg, working in namespace ns.
func NewClients(cfg *rest.Config, ns string) (*Clients, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "boostgen/" + version.Version
	rc, err := rayclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Clients{Namespace: ns, Ray: rc, Kube: kc, Metadata: mc}, nil
}

var secretsResource = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// MissingSecretsError lists Secrets a job refers to that do not exist.
type MissingSecretsError struct {
	Namespace string
	Names     []string
}

func (e *MissingSecretsError) Error() string {
	return fmt.Sprintf("secret(s) %q not found in namespace %q: create them first (kubectl create secret generic NAME --from-literal=KEY=…)", e.Names, e.Namespace)
}

// CheckSecrets confirms that every named Secret exists. It asks for object
// metadata only (PartialObjectMetadata), so no secret value is transferred.
func (c *Clients) CheckSecrets(ctx context.Context, names []string) error {
	var missing []string
	for _, n := range names {
		_, err := c.Metadata.Resource(secretsResource).Namespace(c.Namespace).Get(ctx, n, metav1.GetOptions{})
		switch {
		case err == nil:
		case apierrors.IsNotFound(err):
			missing = append(missing, n)
		case apierrors.IsForbidden(err):
			return fmt.Errorf("secret %q in namespace %q: not allowed to check it exists (%s)", n, c.Namespace, apierrors.ReasonForError(err))
		default:
			return fmt.Errorf("secret %q in namespace %q: %w", n, c.Namespace, err)
		}
	}
	if len(missing) > 0 {
		return &MissingSecretsError{Namespace: c.Namespace, Names: missing}
	}
	return nil
}

// ErrRayJobCRDMissing means the cluster has no KubeRay operator installed.
var ErrRayJobCRDMissing = errors.New("the cluster does not serve ray.io/v1 RayJob: install the KubeRay operator (helm install kuberay-operator kuberay/kuberay-operator)")

// Submit creates job after checking the Secrets it refers to.
func (c *Clients) Submit(ctx context.Context, job *rayv1.RayJob, secrets Secrets) (*rayv1.RayJob, error) {
	if err := c.CheckSecrets(ctx, secrets.Names()); err != nil {
		return nil, err
	}
	job = job.DeepCopy()
	job.Namespace = c.Namespace
	created, err := c.Ray.RayV1().RayJobs(c.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return nil, c.explain(err, job.Name)
	}
	return created, nil
}

// Get reads one RayJob.
func (c *Clients) Get(ctx context.Context, name string) (*rayv1.RayJob, error) {
	j, err := c.Ray.RayV1().RayJobs(c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, c.explain(err, name)
	}
	return j, nil
}

// List returns the RayJobs boostgen created in the namespace.
func (c *Clients) List(ctx context.Context) ([]rayv1.RayJob, error) {
	l, err := c.Ray.RayV1().RayJobs(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy})
	if err != nil {
		return nil, c.explain(err, "")
	}
	return l.Items, nil
}

// Cancel deletes the RayJob. KubeRay's finalizer stops the Ray job first;
// the garbage collector then deletes the RayCluster and submitter Job it
// owns (background propagation: the call returns at once, and a cluster
// without a running garbage collector still sees the RayJob go).
func (c *Clients) Cancel(ctx context.Context, name string) error {
	policy := metav1.DeletePropagationBackground
	err := c.Ray.RayV1().RayJobs(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil {
		return c.explain(err, name)
	}
	return nil
}

func (c *Clients) explain(err error, name string) error {
	switch {
	case apierrors.IsNotFound(err):
		// A missing object names itself in the status details; a missing
		// resource type (no CRD) does not.
		var se apierrors.APIStatus
		if errors.As(err, &se) && se.Status().Details != nil && se.Status().Details.Name != "" {
			return fmt.Errorf("RayJob %q not found in namespace %q", name, c.Namespace)
		}
		return ErrRayJobCRDMissing
	case apierrors.IsAlreadyExists(err):
		return fmt.Errorf("RayJob %q already exists in namespace %q: pick another --name, or `boostgen train cancel %s` first", name, c.Namespace, name)
	}
	return err
}
