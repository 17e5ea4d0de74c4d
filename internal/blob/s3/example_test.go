package s3_test

import (
	"context"
	"log"

	"github.com/boostgen/boostgen/internal/blob"
	blobs3 "github.com/boostgen/boostgen/internal/blob/s3"
)

// Writing a shard to a self-hosted S3 server with explicit options; blob.Open
// does the same from the environment.
func ExampleOpen() {
	ctx := context.Background()
	st, err := blobs3.Open(ctx, "s3://datasets/spatialboost/run1", blobs3.Options{
		Endpoint:  "http://minio.internal:9000",
		PathStyle: true,
		PartSize:  16 << 20,
	})
	if err != nil {
		log.Fatal(err)
	}
	w, err := st.Create(ctx, "shards/00000.jsonl.zst")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort() // a no-op once Close has succeeded
	if _, err := w.Write([]byte("...")); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // the object appears only now
		log.Fatal(err)
	}
	_ = blob.Store(st)
}
