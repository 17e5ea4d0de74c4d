// Package kubetest runs a real etcd and kube-apiserver on loopback for the
// driver's tests, with KubeRay's RayJob CRD installed. There is no kubelet,
// scheduler, controller manager or KubeRay operator: tests play the operator
// by writing RayJob and Pod status through the status subresource.
//
// The binaries come from scripts/setup/kube.sh, through BOOSTGEN_ETCD and
// BOOSTGEN_KUBE_APISERVER.
package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	rayclient "github.com/ray-project/kuberay/ray-operator/pkg/client/clientset/versioned"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/boostgen/boostgen/driver/internal/crdtest"
	"github.com/boostgen/boostgen/internal/testpki"
)

// Environment variables set by scripts/setup/kube.sh.
const (
	EnvAPIServer = "BOOSTGEN_KUBE_APISERVER"
	EnvEtcd      = "BOOSTGEN_ETCD"
)

// Cluster is a running control plane.
type Cluster struct {
	Dir        string
	Kubeconfig string // admin kubeconfig, context "test", namespace "default"
	Config     *rest.Config
	URL        string

	procs []*proc
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// Binaries returns the paths from the environment, or a reason to skip.
func Binaries() (apiserver, etcd string, err error) {
	apiserver, etcd = os.Getenv(EnvAPIServer), os.Getenv(EnvEtcd)
	if apiserver == "" || etcd == "" {
		return "", "", fmt.Errorf("%s and %s are not set: run eval \"$(scripts/setup/kube.sh)\"", EnvAPIServer, EnvEtcd)
	}
	return apiserver, etcd, nil
}

// Start starts etcd and kube-apiserver in a fresh directory, waits for
// /readyz, and installs the RayJob CRD. Stop it with Stop.
func Start(ctx context.Context, dir string) (*Cluster, error) {
	apiserverBin, etcdBin, err := Binaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	if err := c.start(etcdBin, filepath.Join(dir, "etcd.log"),
		"--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL,
		"--max-request-bytes=4194304", // the RayJob CRD alone is over 1 MiB
		"--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, http.DefaultClient, etcdURL+"/health", "", 30*time.Second, c.procs[0], filepath.Join(dir, "etcd.log")); err != nil {
		return nil, err
	}

	pki := filepath.Join(dir, "pki")
	certs, err := writePKI(pki)
	if err != nil {
		return nil, err
	}
	token := randomToken()
	if err := os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(token+`,admin,admin-uid,"system:masters"`+"\n"), 0o600); err != nil {
		return nil, err
	}
	c.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	if err := c.start(apiserverBin, filepath.Join(dir, "apiserver.log"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+pki,
		"--tls-cert-file="+filepath.Join(pki, "server.pem"), "--tls-private-key-file="+filepath.Join(pki, "server-key.pem"),
		"--token-auth-file="+filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		// No controller manager creates the default ServiceAccount.
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--v=0",
	); err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool}}}
	if err := waitHTTP(ctx, hc, c.URL+"/readyz", token, 90*time.Second, c.procs[1], filepath.Join(dir, "apiserver.log")); err != nil {
		return nil, err
	}

	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: certs.CAPEM}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "test"
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, c.Kubeconfig); err != nil {
		return nil, err
	}
	if c.Config, err = clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig(); err != nil {
		return nil, err
	}
	if err := c.installRayJobCRD(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

func (c *Cluster) start(bin, logPath string, args ...string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return nil
}

// Stop ends the processes, API server first.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
}

// Token is the admin bearer token (for kubeconfigs written by tests).
func (c *Cluster) Token() string { return c.Config.BearerToken }

// CA is the API server's CA bundle.
func (c *Cluster) CA() []byte { return c.Config.CAData }

func (c *Cluster) installRayJobCRD(ctx context.Context) error {
	p, err := crdtest.RayJobCRDPath()
	if err != nil {
		return err
	}
	crd, err := crdtest.LoadCRD(p)
	if err != nil {
		return err
	}
	cs, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("install RayJob CRD: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err == nil {
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return c.waitDiscovery(ctx, deadline)
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("RayJob CRD not established after 30s (last error: %v)", err)
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitDiscovery waits until the API server serves ray.io/v1 rayjobs.
func (c *Cluster) waitDiscovery(ctx context.Context, deadline time.Time) error {
	rc, err := rayclient.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	for {
		_, err := rc.RayV1().RayJobs("default").List(ctx, metav1.ListOptions{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ray.io/v1 rayjobs not served: %w", err)
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitHTTP polls url until it answers 200, the process exits, or the deadline passes.
func waitHTTP(ctx context.Context, hc *http.Client, url, token string, limit time.Duration, p *proc, logPath string) error {
	deadline := time.Now().Add(limit)
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (%s); log:\n%s", url, limit, last, tail(logPath))
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-p.done:
			t.Stop()
			return fmt.Errorf("%s exited before %s was ready; log:\n%s", p.cmd.Path, url, tail(logPath))
		case <-t.C:
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// writePKI writes a CA and a serving certificate for 127.0.0.1 signed by
// it (testpki), and a service-account key pair; it returns testpki's files.
func writePKI(dir string) (*testpki.Files, error) {
	pki, err := testpki.Loopback(dir)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{
		"sa.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"sa.pub": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return pki, nil
}
