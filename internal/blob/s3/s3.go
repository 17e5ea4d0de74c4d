// Package s3 is the blob.Store for Amazon S3 and S3-compatible servers
// (MinIO, Cloudflare R2, versitygw, ...), on the AWS SDK for Go v2.
//
// Importing it registers the "s3" scheme with blob.Register, so that
// blob.Open("s3://bucket/prefix") works; that opener takes its settings from
// the environment (see OptionsFromEnv). Open takes them explicitly.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/boostgen/boostgen/internal/blob"
)

func init() {
	blob.Register("s3", func(ctx context.Context, location string) (blob.Store, error) {
		opts, err := OptionsFromEnv()
		if err != nil {
			return nil, err
		}
		return Open(ctx, location, opts)
	})
}

const (
	// DefaultPartSize is the multipart part size when Options.PartSize is 0.
	DefaultPartSize = 8 << 20
	// MinPartSize is S3's smallest allowed part (except the last one).
	MinPartSize = 5 << 20
	// MaxPartSize is S3's largest allowed part.
	MaxPartSize = 5 << 30
	// MaxParts is S3's limit on parts per upload; with 8 MiB parts it caps an
	// object at 80 GiB, far above any shard.
	MaxParts = 10000
	// DefaultReadTimeout is how long a connection may stay silent while a
	// response is awaited or read before the request fails and is retried.
	DefaultReadTimeout = 2 * time.Minute
)

// Options configures a Store. The zero value means: the SDK's standard
// credential chain, region, endpoint and retry settings (AWS_PROFILE,
// AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_RETRY_MODE, AWS_MAX_ATTEMPTS,
// AWS_CA_BUNDLE, shared config files, SSO, IMDS...), virtual-hosted
// addressing and 8 MiB parts.
type Options struct {
	// Endpoint is the S3 endpoint URL ("http://127.0.0.1:7070",
	// "https://<account>.r2.cloudflarestorage.com"). Empty: AWS_ENDPOINT_URL_S3,
	// AWS_ENDPOINT_URL or the config file, else AWS itself.
	Endpoint string
	// Region to sign for. Empty: AWS_REGION or the profile; with a custom
	// endpoint and no region anywhere, "us-east-1".
	Region string
	// PathStyle addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key; MinIO and versitygw usually need it.
	PathStyle bool
	// Profile selects a profile of the shared config and credentials files.
	Profile string
	// Credentials overrides the credential chain (tests use fixed keys).
	Credentials aws.CredentialsProvider
	// PartSize is the multipart part size in bytes (>= MinPartSize); 0 means
	// DefaultPartSize. A writer holds at most two parts in memory.
	PartSize int64
	// RetryMode is aws.RetryModeStandard or aws.RetryModeAdaptive; empty
	// means AWS_RETRY_MODE, else standard.
	RetryMode aws.RetryMode
	// MaxAttempts is the number of tries per request, first one included;
	// 0 means AWS_MAX_ATTEMPTS, else the SDK's default (3).
	MaxAttempts int
	// HTTPClient replaces the SDK's HTTP client. Without one the SDK's
	// client is used, with AWS_CA_BUNDLE honoured and ReadTimeout applied.
	// An *awshttp.BuildableClient given here still gets AWS_CA_BUNDLE.
	HTTPClient aws.HTTPClient
	// ReadTimeout fails a request whose connection stays silent this long
	// (a stalled server), so that it is retried; 0 means DefaultReadTimeout.
	// Ignored when HTTPClient is set.
	ReadTimeout time.Duration
	// ListPageSize is the MaxKeys of each ListObjectsV2 page; 0 means the
	// server's default (1000).
	ListPageSize int32
}

// Environment variables read by OptionsFromEnv, beyond the SDK's own AWS_*.
const (
	EnvPathStyle = "BOOSTGEN_S3_PATH_STYLE" // "1" or "true": path-style addressing
	EnvPartSize  = "BOOSTGEN_S3_PART_SIZE"  // bytes, or with a KiB/MiB/GiB suffix
	// EnvReadTimeout is a Go duration ("30s", "2m"): Options.ReadTimeout.
	EnvReadTimeout = "BOOSTGEN_S3_READ_TIMEOUT"
)

// OptionsFromEnv returns the options the registered "s3" opener uses: the SDK
// reads the AWS_* variables itself; this adds BOOSTGEN_S3_PATH_STYLE,
// BOOSTGEN_S3_PART_SIZE and BOOSTGEN_S3_READ_TIMEOUT.
func OptionsFromEnv() (Options, error) {
	var o Options
	if v := os.Getenv(EnvPathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("s3: %s=%q: want 1, 0, true or false", EnvPathStyle, v)
		}
		o.PathStyle = b
	}
	if v := os.Getenv(EnvPartSize); v != "" {
		n, err := parseSize(v)
		if err != nil {
			return o, fmt.Errorf("s3: %s=%q: %v", EnvPartSize, v, err)
		}
		o.PartSize = n
	}
	if v := os.Getenv(EnvReadTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("s3: %s=%q: want a positive duration such as 30s or 2m", EnvReadTimeout, v)
		}
		o.ReadTimeout = d
	}
	return o, nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive number of bytes, optionally with a KiB, MiB or GiB suffix")
	}
	return n * mult, nil
}

// Store is a blob.Store in an S3 bucket, under a key prefix. It is safe for
// concurrent use; keep one per location, as it holds the connection pool.
type Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ending in "/"
	partSize int64
	pageSize int32
}

var _ blob.Store = (*Store)(nil)

// ParseLocation splits "s3://bucket/prefix" into the bucket and the key
// prefix, which is empty or ends in "/".
func ParseLocation(location string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(location, "s3://")
	if !ok {
		return "", "", fmt.Errorf("s3: location %q does not start with s3://", location)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("s3: location %q has no bucket", location)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return "", "", fmt.Errorf("s3: location %q: bad prefix", location)
		}
		prefix += "/"
	}
	return bucket, prefix, nil
}

// Open returns the store at location ("s3://bucket" or "s3://bucket/prefix").
// It does not contact the server; the first request reports bad credentials
// or a missing bucket.
func Open(ctx context.Context, location string, o Options) (*Store, error) {
	bucket, prefix, err := ParseLocation(location)
	if err != nil {
		return nil, err
	}
	partSize := o.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < MinPartSize || partSize > MaxPartSize {
		return nil, fmt.Errorf("s3: part size %d is outside S3's limits of 5 MiB to 5 GiB", partSize)
	}
	if o.RetryMode != "" && o.RetryMode != aws.RetryModeStandard && o.RetryMode != aws.RetryModeAdaptive {
		return nil, fmt.Errorf("s3: retry mode %q: want %q or %q", o.RetryMode, aws.RetryModeStandard, aws.RetryModeAdaptive)
	}

	var load []func(*config.LoadOptions) error
	if o.Region != "" {
		load = append(load, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(o.Credentials))
	}
	if o.RetryMode != "" {
		load = append(load, config.WithRetryMode(o.RetryMode))
	}
	if o.MaxAttempts > 0 {
		load = append(load, config.WithRetryMaxAttempts(o.MaxAttempts))
	}
	httpClient := o.HTTPClient
	if httpClient == nil {
		rt := o.ReadTimeout
		if rt == 0 {
			rt = DefaultReadTimeout
		}
		httpClient = awshttp.NewBuildableClient().WithReadTimeout(rt)
	}
	// Handing the client to the config loader (rather than only to
	// s3.Options) lets it add AWS_CA_BUNDLE to a BuildableClient.
	load = append(load, config.WithHTTPClient(httpClient))
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS config: %w", err)
	}

	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		if o.PathStyle {
			so.UsePathStyle = true
		}
		if so.Region == "" && so.BaseEndpoint != nil {
			// Self-hosted servers accept any region; AWS needs the right one.
			so.Region = "us-east-1"
		}
		so.HTTPClient = cfg.HTTPClient
		// A multipart object's composite checksum cannot be checked against
		// the whole body (each part was verified on upload); without this the
		// SDK logs a warning on every such download.
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	if client.Options().Region == "" {
		return nil, fmt.Errorf("s3: no region for %s: set AWS_REGION or a profile's region", location)
	}
	return &Store{client: client, bucket: bucket, prefix: prefix, partSize: partSize, pageSize: o.ListPageSize}, nil
}

// Client is the underlying SDK client, for what the Store does not cover.
func (s *Store) Client() *s3.Client { return s.client }

// Bucket is the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Prefix is the store's key prefix: empty or ending in "/".
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) String() string {
	return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

// url names key for messages.
func (s *Store) url(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return fmt.Errorf("blob: invalid key %q", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("blob: invalid key %q", key)
		}
	}
	return nil
}

func (s *Store) objectKey(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// Create starts a streamed write of key; see the Writer for the protocol.
func (s *Store) Create(ctx context.Context, key string) (blob.Writer, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return nil, err
	}
	return &Writer{s: s, ctx: ctx, key: key, objectKey: k, partSize: int(s.partSize)}, nil
}

// PutIfAbsent writes data under key with If-None-Match: *, so that of several
// concurrent writers exactly one succeeds and the others get blob.ErrExists.
//
// If the response to a successful write is lost and the retry finds the key
// already holding exactly data, the write is taken to be ours and nil is
// returned. Writers that race with identical bytes can therefore both succeed;
// callers that need a single winner put something writer-unique in data.
func (s *Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	var attempts atomic.Int32
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &k,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch:   aws.String("*"),
		ChecksumCRC32: aws.String(crc32Base64(data)),
	}, countAttempts(&attempts))
	if err == nil {
		return nil
	}
	if !isExists(err) {
		return fmt.Errorf("s3: put %s: %w", s.url(key), err)
	}
	if attempts.Load() > 1 {
		if got, rerr := blob.ReadAll(ctx, s, key); rerr == nil && bytes.Equal(got, data) {
			return nil
		}
	}
	return fmt.Errorf("s3: put %s: %w", s.url(key), blob.ErrExists)
}

// Open reads key. A download cut off midway is resumed where it stopped
// (a ranged GET pinned to the same ETag, so a concurrent overwrite fails the
// read rather than splicing two objects), and the bytes are checked against
// the object's CRC32 when the server kept a whole-object one.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       &s.bucket,
		Key:          &k,
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, s.mapErr("get", key, err)
	}
	r := &reader{s: s, ctx: ctx, key: key, objectKey: k, body: out.Body, etag: out.ETag, size: -1, crc: crc32.NewIEEE()}
	if out.ContentLength != nil {
		r.size = *out.ContentLength
	}
	// A composite checksum ("...-N") covers parts, not the byte stream.
	if c := aws.ToString(out.ChecksumCRC32); c != "" && !strings.Contains(c, "-") {
		r.wantCRC = c
	}
	return r, nil
}

// maxResumes bounds how often one download is resumed.
const maxResumes = 10

type reader struct {
	s         *Store
	ctx       context.Context
	key       string
	objectKey string
	body      io.ReadCloser
	etag      *string
	size, off int64 // size is -1 when the server did not say
	resumes   int
	crc       hash.Hash32
	wantCRC   string
}

func (r *reader) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		r.crc.Write(p[:n])
		switch {
		case err == io.EOF && (r.off == r.size || r.size < 0):
			if r.wantCRC != "" && crc32String(r.crc.Sum32()) != r.wantCRC {
				return n, fmt.Errorf("s3: get %s: CRC32 mismatch: the bytes read are not the bytes stored", r.s.url(r.key))
			}
			return n, io.EOF
		case err == nil:
			return n, nil
		case n > 0:
			return n, nil // the error comes back on the next Read
		}
		if r.resumes >= maxResumes || r.ctx.Err() != nil || r.size < 0 || r.off > r.size {
			return 0, fmt.Errorf("s3: get %s: %w", r.s.url(r.key), err)
		}
		r.resumes++
		r.body.Close()
		if rerr := r.resume(); rerr != nil {
			return 0, fmt.Errorf("s3: get %s: %v; resuming at byte %d: %w", r.s.url(r.key), err, r.off, rerr)
		}
	}
}

func (r *reader) resume() error {
	out, err := r.s.client.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket:  &r.s.bucket,
		Key:     &r.objectKey,
		Range:   aws.String(fmt.Sprintf("bytes=%d-", r.off)),
		IfMatch: r.etag,
	})
	if err != nil {
		r.body = io.NopCloser(bytes.NewReader(nil))
		return err
	}
	r.body = out.Body
	return nil
}

func (r *reader) Close() error { return r.body.Close() }

// Stat describes key.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return blob.Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return blob.Info{}, s.mapErr("stat", key, err)
	}
	return blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List returns the objects whose keys start with prefix, sorted by key,
// following ListObjectsV2 continuation tokens through every page.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if s.pageSize > 0 {
		in.MaxKeys = aws.Int32(s.pageSize)
	}
	var out []blob.Info
	for p := s3.NewListObjectsV2Paginator(s.client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.mapErr("list", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			out = append(out, blob.Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	// S3 lists in UTF-8 byte order already; sorting keeps the promise for
	// servers that do not.
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil && !isNotFound(err) {
		return s.mapErr("delete", key, err)
	}
	return nil
}

func (s *Store) mapErr(op, key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("s3: %s %s: %w", op, s.url(key), blob.ErrNotExist)
	}
	return fmt.Errorf("s3: %s %s: %w", op, s.url(key), err)
}

// isNotFound reports a missing key: NoSuchKey from GET, a bare 404 from HEAD.
// A missing bucket is not a missing key and keeps its own error.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchBucket") {
		return false
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// isExists reports a failed If-None-Match: 412 PreconditionFailed, or 409
// ConditionalRequestConflict (a concurrent conditional write to the key).
func isExists(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed
}

// countAttempts counts the HTTP attempts of one call, retries included.
func countAttempts(n *atomic.Int32) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("boostgenCountAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					n.Add(1)
					return next.HandleFinalize(ctx, in)
				}), "Retry", middleware.After)
		})
	}
}
