package s3test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Helpers the S3 benchmarks share: the baseline they measure against and
// the data they upload.

// PlainMultipart is the reference upload: the SDK's own calls, one part
// after another, with CRC32 checksums as the store uses.
func PlainMultipart(ctx context.Context, c *s3.Client, bucket, key string, data []byte, partSize int) error {
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	for n := int32(1); len(data) > 0; n++ {
		part := data[:min(len(data), partSize)]
		data = data[len(part):]
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// RecordLines makes about size bytes of LLaVA-style JSON lines, seeded,
// that compress like real records.
func RecordLines(size int) [][]byte {
	r := rand.New(rand.NewPCG(42, 42))
	objects := []string{"chair", "table", "sofa", "lamp", "bed", "cabinet", "door", "window", "plant", "monitor", "shelf", "bottle"}
	relations := []string{"left of", "right of", "in front of", "behind", "above", "below", "closer to the camera than", "farther from the camera than"}
	var out [][]byte
	for i, n := 0, 0; n < size; i++ {
		a, c := objects[r.IntN(len(objects))], objects[r.IntN(len(objects))]
		var turns []map[string]string
		for range 2 + r.IntN(10) {
			turns = append(turns,
				map[string]string{"from": "human", "value": fmt.Sprintf("Is the %s %s the %s? What is the distance between them in meters?", a, relations[r.IntN(len(relations))], c)},
				map[string]string{"from": "gpt", "value": fmt.Sprintf("The %s's center is at (%.3f, %.3f, %.3f) and the %s's at (%.3f, %.3f, %.3f), so they are %.2f m apart.",
					a, r.Float64()*8-4, r.Float64()*3, r.Float64()*10, c, r.Float64()*8-4, r.Float64()*3, r.Float64()*10, r.Float64()*6)})
		}
		line, _ := json.Marshal(map[string]any{
			"id":            fmt.Sprintf("synthetic-%06d-1v", i),
			"image":         fmt.Sprintf("images/%02x/%064x.png", r.IntN(256), r.Uint64()),
			"conversations": turns,
			"meta":          map[string]any{"seed": r.Uint32(), "box2d": []float64{r.Float64(), r.Float64(), r.Float64(), r.Float64()}},
		})
		out = append(out, append(line, '\n'))
		n += len(line) + 1
	}
	return out
}
