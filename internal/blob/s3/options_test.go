package s3_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	blobs3 "github.com/boostgen/boostgen/internal/blob/s3"
)

func TestParseLocation(t *testing.T) {
	for _, tc := range []struct {
		in             string
		bucket, prefix string
		err            string
	}{
		{in: "s3://b", bucket: "b"},
		{in: "s3://b/", bucket: "b"},
		{in: "s3://b/run1", bucket: "b", prefix: "run1/"},
		{in: "s3://b/run1/shards/", bucket: "b", prefix: "run1/shards/"},
		{in: "s3:///x", err: "no bucket"},
		{in: "gs://b/x", err: "does not start with s3://"},
		{in: "s3://b/a/../x", err: "bad prefix"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			b, p, err := blobs3.ParseLocation(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || b != tc.bucket || p != tc.prefix {
				t.Fatalf("= %q, %q, %v; want %q, %q", b, p, err, tc.bucket, tc.prefix)
			}
		})
	}
}

// isolateAWSEnv keeps the developer's own AWS setup out of a test.
func isolateAWSEnv(t *testing.T) {
	for _, k := range []string{"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
		"AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", "AWS_CA_BUNDLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		blobs3.EnvPathStyle, blobs3.EnvPartSize, blobs3.EnvReadTimeout} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// The settings reach the SDK client: options win over the environment, and
// the environment is used when options are empty.
func TestOptionsReachClient(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		env       map[string]string
		fromEnv   bool // take the options from OptionsFromEnv, as blob.Open does
		opts      blobs3.Options
		endpoint  string
		region    string
		pathStyle bool
		retry     aws.RetryMode
		attempts  int
	}{
		{
			name: "environment", env: map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-3",
				blobs3.EnvPathStyle: "1", "AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "7"}, fromEnv: true,
			endpoint: "http://127.0.0.1:9000", region: "eu-west-3", pathStyle: true, retry: aws.RetryModeAdaptive, attempts: 7,
		},
		{
			name: "options win", env: map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-3", "AWS_RETRY_MODE": "adaptive"},
			opts:     blobs3.Options{Endpoint: "https://r2.example", Region: "auto", PathStyle: true, RetryMode: aws.RetryModeStandard, MaxAttempts: 4},
			endpoint: "https://r2.example", region: "auto", pathStyle: true, retry: aws.RetryModeStandard, attempts: 4,
		},
		{
			name: "custom endpoint without region", env: map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}, fromEnv: true,
			endpoint: "http://127.0.0.1:9000", region: "us-east-1", retry: aws.RetryModeStandard,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			o := tc.opts
			if tc.fromEnv {
				var err error
				if o, err = blobs3.OptionsFromEnv(); err != nil {
					t.Fatal(err)
				}
			}
			st, err := blobs3.Open(ctx, "s3://bucket/p", o)
			if err != nil {
				t.Fatal(err)
			}
			co := st.Client().Options()
			if aws.ToString(co.BaseEndpoint) != tc.endpoint || co.Region != tc.region || co.UsePathStyle != tc.pathStyle ||
				co.RetryMode != tc.retry || co.RetryMaxAttempts != tc.attempts {
				t.Fatalf("client has endpoint %q region %q path style %v retry %q/%d; want %q %q %v %q/%d",
					aws.ToString(co.BaseEndpoint), co.Region, co.UsePathStyle, co.RetryMode, co.RetryMaxAttempts,
					tc.endpoint, tc.region, tc.pathStyle, tc.retry, tc.attempts)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		env  map[string]string
		opts blobs3.Options
		err  string // what the message must name
	}{
		{name: "part too small", opts: blobs3.Options{Region: "x", PartSize: 1 << 20}, err: "part size"},
		{name: "part too big", opts: blobs3.Options{Region: "x", PartSize: 6 << 30}, err: "part size"},
		{name: "retry mode", opts: blobs3.Options{Region: "x", RetryMode: "eager"}, err: `retry mode "eager"`},
		{name: "no region on AWS", err: "AWS_REGION"},
		{name: "missing CA bundle", env: map[string]string{"AWS_CA_BUNDLE": "/nonexistent/ca.pem"}, opts: blobs3.Options{Region: "x"}, err: "ca.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := blobs3.Open(ctx, "s3://bucket", tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one naming %q", err, tc.err)
			}
		})
	}
	for _, tc := range []struct{ name, value, err string }{
		{blobs3.EnvPathStyle, "yes please", blobs3.EnvPathStyle},
		{blobs3.EnvPartSize, "8 megs", blobs3.EnvPartSize},
		{blobs3.EnvReadTimeout, "30", blobs3.EnvReadTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnv(t)
			t.Setenv(tc.name, tc.value)
			if _, err := blobs3.OptionsFromEnv(); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one naming %s", err, tc.err)
			}
		})
	}
}

func TestPartSizeFromEnv(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int64
	}{
		{"16MiB", 16 << 20},
		{"6291456", 6 << 20},
		{"1GiB", 1 << 30},
	} {
		t.Run(tc.value, func(t *testing.T) {
			isolateAWSEnv(t)
			t.Setenv(blobs3.EnvPartSize, tc.value)
			o, err := blobs3.OptionsFromEnv()
			if err != nil || o.PartSize != tc.want {
				t.Fatalf("= %d, %v; want %d", o.PartSize, err, tc.want)
			}
		})
	}
}
