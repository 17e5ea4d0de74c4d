package s3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/boostgen/boostgen/internal/blob"
)

// Writer streams one object to S3. It fills a part-sized buffer; an object
// that fits in one part goes up as a single PutObject on Close, a larger one
// as a multipart upload whose parts are uploaded one at a time in the
// background while the next part fills. So a Writer never holds more than two
// parts: the one filling and the one in flight. Every request carries a CRC32
// checksum that the server verifies; the completed object's checksum is the
// composite CRC32 of its parts.
//
// Nothing is visible under the key until Close returns nil. Abort (or a failed
// Close) aborts the multipart upload, so no part lingers either. The context
// given to Create governs every request; cancelling it fails the write.
// Like any io.Writer, a Writer is for one goroutine at a time.
type Writer struct {
	s         *Store
	ctx       context.Context
	key       string // as the caller named it, for messages
	objectKey string // with the store's prefix
	partSize  int

	buf   []byte // the part being filled
	spare []byte // the buffer of the last finished upload, reused

	uploadID  *string
	parts     []types.CompletedPart
	partCRCs  []byte          // the raw CRC32 of each part, for the composite checksum
	inflight  chan partResult // the part being uploaded, if any
	size      int64           // bytes written
	err       error           // sticky: the first failure
	done      bool            // closed or aborted
	closeErr  error           // what Close returned
	allocated int             // part-sized buffers allocated, for tests of the memory bound
}

type partResult struct {
	part types.CompletedPart
	crc  uint32
	buf  []byte
	err  error
}

var (
	errClosed  = errors.New("blob: write after Close or Abort")
	errAborted = errors.New("blob: Close after Abort: nothing was stored")
)

// Write buffers p, uploading each part as it fills.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.partSize {
			// A full part and more to come: it cannot be a single PutObject.
			if err := w.sendPart(); err != nil {
				w.err = err
				return n, err
			}
		}
		w.grow(len(p))
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
		w.size += int64(k)
	}
	return n, nil
}

// grow makes room for up to need more bytes in buf without passing partSize.
// Small objects (markers, manifests) get small buffers; a part-sized one is
// allocated at most twice per writer.
func (w *Writer) grow(need int) {
	if cap(w.buf)-len(w.buf) > 0 && cap(w.buf) == w.partSize {
		return
	}
	if w.buf == nil && w.spare != nil {
		w.buf, w.spare = w.spare[:0], nil
		return
	}
	want := len(w.buf) + need
	if want <= cap(w.buf) {
		return
	}
	c := min(max(2*cap(w.buf), want, 64<<10), w.partSize)
	if w.uploadID != nil || c > 1<<20 {
		// A multipart upload, where every part but the last is full, or an
		// object already past 1 MiB, which is likely to be big: skip the
		// doublings that would only make garbage.
		c = w.partSize
	}
	if c == w.partSize {
		w.allocated++
	}
	nb := make([]byte, len(w.buf), c)
	copy(nb, w.buf)
	w.buf = nb
}

// sendPart starts uploading buf as the next part, after the previous part's
// upload finished; that upload's buffer becomes the spare.
func (w *Writer) sendPart() error {
	if w.uploadID == nil {
		out, err := w.s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
			Bucket:            &w.s.bucket,
			Key:               &w.objectKey,
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return fmt.Errorf("s3: start upload of %s: %w", w.s.url(w.key), err)
		}
		w.uploadID = out.UploadId
	}
	if err := w.wait(); err != nil {
		return err
	}
	if len(w.parts) >= MaxParts {
		return fmt.Errorf("s3: %s: more than %d parts of %d bytes; raise the part size", w.s.url(w.key), MaxParts, w.partSize)
	}
	buf := w.buf
	w.buf = nil // grow refills it from the spare
	num := int32(len(w.parts) + 1)
	ch := make(chan partResult, 1)
	w.inflight = ch
	go func() { ch <- w.uploadPart(num, buf) }()
	return nil
}

// wait collects the part in flight, if any.
func (w *Writer) wait() error {
	if w.inflight == nil {
		return nil
	}
	r := <-w.inflight
	w.inflight = nil
	w.spare = r.buf
	if r.err != nil {
		return r.err
	}
	w.parts = append(w.parts, r.part)
	w.partCRCs = binary.BigEndian.AppendUint32(w.partCRCs, r.crc)
	return nil
}

func (w *Writer) uploadPart(num int32, buf []byte) partResult {
	// The checksum travels in a header computed here, not as the aws-chunked
	// trailer the SDK would otherwise use over TLS, which several
	// S3-compatible servers reject; and the composite needs it anyway.
	crc := crc32.ChecksumIEEE(buf)
	sum := crc32String(crc)
	out, err := w.s.client.UploadPart(w.ctx, &s3.UploadPartInput{
		Bucket:        &w.s.bucket,
		Key:           &w.objectKey,
		UploadId:      w.uploadID,
		PartNumber:    aws.Int32(num),
		Body:          bytes.NewReader(buf),
		ContentLength: aws.Int64(int64(len(buf))),
		ChecksumCRC32: aws.String(sum),
	})
	if err != nil {
		return partResult{buf: buf, err: fmt.Errorf("s3: upload part %d of %s: %w", num, w.s.url(w.key), err)}
	}
	return partResult{
		part: types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: aws.String(sum)},
		crc:  crc,
		buf:  buf,
	}
}

// Close uploads what is left and makes the object visible. On failure the
// upload is aborted and nothing appears under the key.
func (w *Writer) Close() error {
	if w.done {
		return w.closeErr
	}
	w.done = true
	w.closeErr = w.finish()
	if w.closeErr != nil {
		w.abort()
	}
	w.buf, w.spare = nil, nil
	return w.closeErr
}

func (w *Writer) finish() error {
	if w.err != nil {
		return w.err
	}
	if w.uploadID == nil {
		_, err := w.s.client.PutObject(w.ctx, &s3.PutObjectInput{
			Bucket:        &w.s.bucket,
			Key:           &w.objectKey,
			Body:          bytes.NewReader(w.buf),
			ContentLength: aws.Int64(int64(len(w.buf))),
			ChecksumCRC32: aws.String(crc32Base64(w.buf)),
		})
		if err != nil {
			return fmt.Errorf("s3: put %s: %w", w.s.url(w.key), err)
		}
		return nil
	}
	// The last part is never empty: a part is sent only when more bytes follow.
	if err := w.sendPart(); err != nil {
		return err
	}
	if err := w.wait(); err != nil {
		return err
	}
	composite := w.compositeCRC32()
	var attempts atomic.Int32
	_, err := w.s.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &w.s.bucket,
		Key:             &w.objectKey,
		UploadId:        w.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
		MpuObjectSize:   aws.Int64(w.size),
	}, countAttempts(&attempts))
	if err == nil {
		return nil
	}
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsu) && attempts.Load() > 1 && w.completedByUs(composite) {
		// An earlier attempt completed the upload and its response was lost.
		w.uploadID = nil
		return nil
	}
	return fmt.Errorf("s3: complete upload of %s: %w", w.s.url(w.key), err)
}

// compositeCRC32 is the checksum S3 reports for the completed object: the
// CRC32 of the parts' CRC32s, then "-" and the number of parts.
func (w *Writer) compositeCRC32() string {
	return crc32String(crc32.ChecksumIEEE(w.partCRCs)) + fmt.Sprintf("-%d", len(w.parts))
}

// completedByUs reports whether the object under the key is the one this
// writer uploaded: same size and same composite CRC32 of the same parts.
func (w *Writer) completedByUs(composite string) bool {
	out, err := w.s.client.HeadObject(w.ctx, &s3.HeadObjectInput{
		Bucket:       &w.s.bucket,
		Key:          &w.objectKey,
		ChecksumMode: types.ChecksumModeEnabled,
	})
	return err == nil && aws.ToInt64(out.ContentLength) == w.size && aws.ToString(out.ChecksumCRC32) == composite
}

// Abort discards the object: the multipart upload, if one was started, is
// aborted. After Close it does nothing.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.closeErr = errAborted // a later Close must not look like a commit
	err := w.abort()
	w.buf, w.spare = nil, nil
	return err
}

func (w *Writer) abort() error {
	w.wait() // its error, if any, is moot now
	if w.uploadID == nil {
		return nil
	}
	// Abort even when the writer's context was cancelled, which is the usual
	// reason to abort; parts left behind cost storage until a lifecycle rule.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), time.Minute)
	defer cancel()
	_, err := w.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   &w.s.bucket,
		Key:      &w.objectKey,
		UploadId: w.uploadID,
	})
	var nsu *types.NoSuchUpload
	if err != nil && !errors.As(err, &nsu) {
		return fmt.Errorf("s3: abort upload of %s: %w", w.s.url(w.key), err)
	}
	w.uploadID = nil
	return nil
}

var _ blob.Writer = (*Writer)(nil)

func crc32String(c uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, c))
}

func crc32Base64(b []byte) string { return crc32String(crc32.ChecksumIEEE(b)) }
