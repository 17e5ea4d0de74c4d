package s3_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	blobs3 "github.com/boostgen/boostgen/internal/blob/s3"
	"github.com/boostgen/boostgen/internal/blob/s3/s3test"
)

// BenchmarkShardUpload compares writing a zstd-compressed JSONL shard the
// way boostgen does (encode while streaming through the store's Writer) with
// a plain SDK multipart upload (CreateMultipartUpload, sequential UploadPart,
// Complete) of the same compressed bytes, already in memory, to the same
// local versitygw. The figure of merit is the ratio of their throughputs in
// compressed MB/s: 1 means the Writer, compression included, keeps up with
// the bare SDK. "writer-only" streams the already-compressed bytes through
// the Writer, to separate the Writer's cost from the encoder's.
//
//	eval "$(scripts/setup/versitygw.sh)"
//	go test ./internal/blob/s3 -run '^$' -bench ShardUpload -benchtime 1x
func BenchmarkShardUpload(b *testing.B) {
	srv := s3test.Start(b)
	raw := bytes.Join(s3test.RecordLines(64<<20), nil)
	for _, level := range []zstd.EncoderLevel{zstd.SpeedDefault, zstd.SpeedFastest} {
		b.Run("zstd="+level.String(), func(b *testing.B) { benchShardUpload(b, srv, raw, level) })
	}
}

func benchShardUpload(b *testing.B, srv *s3test.Server, raw []byte, level zstd.EncoderLevel) {
	ctx := context.Background()
	st := srv.OpenStore(b, "bench", srv.Options())
	var compressed bytes.Buffer
	enc, _ := zstd.NewWriter(&compressed, zstd.WithEncoderLevel(level))
	enc.Write(raw)
	enc.Close()
	zbytes := compressed.Bytes()

	// compressTo feeds the records, one line at a time as the generator
	// produces them, through an encoder into w.
	compressTo := func(w io.Writer) error {
		enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(level))
		if err != nil {
			return err
		}
		for p := raw; len(p) > 0; {
			i := bytes.IndexByte(p, '\n') + 1
			if _, err := enc.Write(p[:i]); err != nil {
				return err
			}
			p = p[i:]
		}
		return enc.Close()
	}
	streamed := func(compress bool) func() error {
		return func() error {
			w, err := st.Create(ctx, "shard-streamed.jsonl.zst")
			if err != nil {
				return err
			}
			defer w.Abort()
			if !compress {
				// The encoder hands its output over in blocks of this order.
				for p := zbytes; len(p) > 0; p = p[min(len(p), 128<<10):] {
					if _, err := w.Write(p[:min(len(p), 128<<10)]); err != nil {
						return err
					}
				}
				return w.Close()
			}
			if err := compressTo(w); err != nil {
				return err
			}
			return w.Close()
		}
	}
	plain := func() error {
		return s3test.PlainMultipart(ctx, st.Client(), srv.Bucket, "bench/shard-plain.jsonl.zst", zbytes, blobs3.DefaultPartSize)
	}

	// Best of a few alternating rounds: the machine is shared, and the best
	// time is the one least disturbed by others.
	best := func(rounds int, f func() error) time.Duration {
		d := time.Duration(1<<63 - 1)
		for range rounds {
			t0 := time.Now()
			if err := f(); err != nil {
				b.Fatal(err)
			}
			d = min(d, time.Since(t0))
		}
		return d
	}
	for b.Loop() {
		tPlain := best(7, plain)
		tWriter := best(7, streamed(false))
		tShard := best(3, streamed(true))
		tZstd := best(3, func() error { return compressTo(io.Discard) })
		mbps := func(d time.Duration) float64 { return float64(len(zbytes)) / 1e6 / d.Seconds() }
		b.ReportMetric(mbps(tShard)/mbps(tPlain), "ratio")
		b.ReportMetric(mbps(tWriter)/mbps(tPlain), "writer-only-ratio")
		b.ReportMetric(mbps(tShard)/mbps(tZstd), "vs-zstd-alone")
		b.Logf("%d MiB JSONL -> %.1f MiB zstd; in compressed MB/s: plain SDK multipart %.0f, Writer %.0f, zstd alone %.0f, zstd+Writer %.0f",
			len(raw)>>20, float64(len(zbytes))/(1<<20), mbps(tPlain), mbps(tWriter), mbps(tZstd), mbps(tShard))
		b.Logf("ratio (zstd+Writer / plain SDK) %.2f; writer-only ratio %.2f; zstd+Writer / zstd alone %.2f",
			mbps(tShard)/mbps(tPlain), mbps(tWriter)/mbps(tPlain), mbps(tShard)/mbps(tZstd))
	}
}
