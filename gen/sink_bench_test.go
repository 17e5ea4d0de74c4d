package gen

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/boostgen/boostgen/internal/blob"
	blobs3 "github.com/boostgen/boostgen/internal/blob/s3"
	"github.com/boostgen/boostgen/internal/blob/s3/s3test"
)

// BenchmarkSinkS3 measures the pipeline's sink writing zstd parts to a local
// versitygw (records in, part files and part manifests out: encoding,
// hashing, multipart upload, commit) against a plain SDK multipart upload
// (CreateMultipartUpload, sequential UploadPart, Complete) of the same
// compressed bytes, already in memory, in compressed MB/s. "serial" lets
// one part be in flight at a time; "parallel" lets GOMAXPROCS+1 parts
// encode and upload at once, one zstd encoder each.
//
//	eval "$(scripts/setup/versitygw.sh)"
//	go test ./gen -run '^$' -bench SinkS3 -benchtime 1x
//
// Figures for both output.zstd_level values "default" and "fastest".
func BenchmarkSinkS3(b *testing.B) {
	srv := s3test.Start(b)
	lines := s3test.RecordLines(64 << 20)
	for _, level := range []string{"default", "fastest"} {
		b.Run("zstd="+level, func(b *testing.B) { benchSink(b, srv, lines, level) })
	}
}

func benchSink(b *testing.B, srv *s3test.Server, lines [][]byte, level string) {
	const perPart = 8 << 20 // raw bytes per part, about what 1000 real items make
	raw := 0
	for _, l := range lines {
		raw += len(l)
	}
	itemsPerPart := len(lines) * perPart / raw
	ctx := context.Background()

	round := 0
	prefix := fmt.Sprintf("bench-%s", level)
	viaSink := func(inFlight int) func() ([][]byte, error) {
		return func() ([][]byte, error) {
			round++
			st := srv.OpenStore(b, fmt.Sprintf("%s/%d/", prefix, round), srv.Options())
			s := newSink(ctx, st, OutputConfig{Compression: "zstd", ZstdLevel: level, ItemsPerPart: itemsPerPart}, strings.Repeat("0", 64), len(lines), inFlight)
			for i, l := range lines {
				rec := &Record{ID: fmt.Sprintf("bench-%08d", i), Image: "images/x.jpg"}
				if err := s.write(i, outcome{record: rec}, l); err != nil {
					return nil, err
				}
			}
			parts, err := s.finish()
			if err != nil {
				return nil, err
			}
			var out [][]byte
			for _, pm := range parts {
				data, err := blob.ReadAll(ctx, st, pm.Path)
				if err != nil {
					return nil, err
				}
				out = append(out, data)
			}
			return out, nil
		}
	}
	parts, err := viaSink(1)()
	if err != nil {
		b.Fatal(err)
	}
	compressed := 0
	for _, p := range parts {
		compressed += len(p)
	}
	plain := func() ([][]byte, error) {
		for k, p := range parts {
			key := fmt.Sprintf("%s/plain/part-%05d.jsonl.zst", prefix, k)
			if err := s3test.PlainMultipart(ctx, srv.Store.Client(), srv.Bucket, key, p, blobs3.DefaultPartSize); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	best := func(rounds int, f func() ([][]byte, error)) time.Duration {
		d := time.Duration(1<<63 - 1)
		for range rounds {
			t0 := time.Now()
			if _, err := f(); err != nil {
				b.Fatal(err)
			}
			d = min(d, time.Since(t0))
		}
		return d
	}
	zstdAlone := func() ([][]byte, error) {
		zw, err := zstd.NewWriter(io.Discard, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstdLevel(level)))
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			zw.Write(l)
		}
		return nil, zw.Close()
	}
	parallel := runtime.GOMAXPROCS(0) + 1
	for b.Loop() {
		var tPlain, tSerial, tParallel, tZstd time.Duration = 1<<63 - 1, 1<<63 - 1, 1<<63 - 1, 1<<63 - 1
		// Alternating rounds, best of each: the machine is shared.
		for range 3 {
			tPlain = min(tPlain, best(2, plain))
			tSerial = min(tSerial, best(1, viaSink(1)))
			tParallel = min(tParallel, best(1, viaSink(parallel)))
			tZstd = min(tZstd, best(1, zstdAlone))
		}
		mbps := func(d time.Duration) float64 { return float64(compressed) / 1e6 / d.Seconds() }
		b.ReportMetric(mbps(tSerial)/mbps(tPlain), "ratio-serial")
		b.ReportMetric(mbps(tParallel)/mbps(tPlain), "ratio-parallel")
		b.Logf("%d MiB JSONL in %d parts -> %.1f MiB zstd; compressed MB/s: plain SDK multipart %.0f, sink serial %.0f, sink %d parts in flight %.0f (GOMAXPROCS %d)",
			raw>>20, len(parts), float64(compressed)/(1<<20), mbps(tPlain), mbps(tSerial), parallel, mbps(tParallel), runtime.GOMAXPROCS(0))
		b.ReportMetric(mbps(tSerial)/mbps(tZstd), "serial-vs-zstd-alone")
		b.Logf("ratio sink/plain: serial %.2f, parallel %.2f; zstd alone (one encoder, no I/O) %.0f MB/s, its ratio to plain %.2f (the ceiling for one encoder)",
			mbps(tSerial)/mbps(tPlain), mbps(tParallel)/mbps(tPlain), mbps(tZstd), mbps(tZstd)/mbps(tPlain))
	}
}
