package kubetest

import (
	"context"
	"testing"
	"time"

	rayclient "github.com/ray-project/kuberay/ray-operator/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/boostgen/boostgen/internal/testenv"
)

func TestStartServesRayJobs(t *testing.T) {
	if _, _, err := Binaries(); err != nil {
		testenv.SkipOrFail(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	rc, err := rayclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	l, err := rc.RayV1().RayJobs("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 0 {
		t.Fatalf("fresh cluster has %d RayJobs", len(l.Items))
	}
}
