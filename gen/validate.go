package gen

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/schemas"
)

// Report is what `boostgen validate` prints.
type Report struct {
	OK         bool     `json:"ok"`
	Dataset    string   `json:"dataset"`
	Shards     int      `json:"shards"`
	Records    int      `json:"records"`
	Images     int      `json:"images"`
	Rejects    int      `json:"rejects"`
	ErrorCount int      `json:"error_count"`
	Errors     []string `json:"errors,omitempty"` // the first MaxReportedErrors
}

// MaxReportedErrors caps the errors a report lists (all are counted).
const MaxReportedErrors = 50

func (r *Report) fail(format string, args ...any) {
	r.OK = false
	r.ErrorCount++
	if len(r.Errors) < MaxReportedErrors {
		r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
	}
}

// Validate checks a dataset as a reader would see it: the manifest against
// its schema, and _SUCCESS beside it (finalize writes it last); the item
// ranges of the parts (in order, no overlap, items = records + rejects);
// every shard it lists against its size, checksum and record
// count; every record against the record schema and the rules the schema
// cannot state (unique ids, one <image> per image, alternating turns,
// images present, turns in meta matching the conversation); the rejects file
// against its checksum.
func Validate(ctx context.Context, store blob.Store) Report {
	r := Report{OK: true, Dataset: store.String()}
	mb, err := blob.ReadAll(ctx, store, ManifestFile)
	if err != nil {
		r.fail("%s: %v (a dataset is complete only once its manifest is written)", ManifestFile, err)
		return r
	}
	if err := schemas.ValidateJSON(schemas.Manifest, mb); err != nil {
		r.fail("%s: %v", ManifestFile, err)
		return r
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		r.fail("%s: %v", ManifestFile, err)
		return r
	}
	if ok, err := blob.Exists(ctx, store, SuccessFile); err != nil || !ok {
		r.fail("%s: missing (finalize did not finish: run boostgen finalize %s)", SuccessFile, store)
	}
	if m.Totals.Items != m.Totals.Records+m.Totals.Rejects {
		r.fail("%s: totals.items is %d but records + rejects is %d", ManifestFile, m.Totals.Items, m.Totals.Records+m.Totals.Rejects)
	}
	end := 0
	for _, sh := range m.Shards {
		if m.ItemsPerPart > 0 && (sh.ItemStart < end || sh.ItemEnd <= sh.ItemStart || sh.ItemEnd > m.Totals.Items || sh.ItemStart != sh.Part*m.ItemsPerPart) {
			r.fail("%s: %s covers items [%d, %d), which is out of order, overlaps, or does not match part %d", ManifestFile, sh.Path, sh.ItemStart, sh.ItemEnd, sh.Part)
		}
		end = sh.ItemEnd
	}
	ids := map[string]string{}
	images := map[string]bool{}
	for _, sh := range m.Shards {
		r.Shards++
		n := validateShard(ctx, store, sh, ids, images, &r)
		if n != sh.Records {
			r.fail("%s: %d records, manifest says %d", sh.Path, n, sh.Records)
		}
		r.Records += n
	}
	r.Images = len(images)
	if r.Records != m.Totals.Records {
		r.fail("%s: totals.records is %d but the shards hold %d", ManifestFile, m.Totals.Records, r.Records)
	}
	if m.Rejects != nil {
		r.Rejects = m.Rejects.Count
		validateRejects(ctx, store, *m.Rejects, &r)
	}
	return r
}

func validateShard(ctx context.Context, store blob.Store, sh ShardInfo, ids map[string]string, images map[string]bool, r *Report) int {
	rc, err := store.Open(ctx, sh.Path)
	if err != nil {
		r.fail("%s: %v", sh.Path, err)
		return 0
	}
	defer rc.Close()
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(rc, h)}
	var body io.Reader = counted
	if strings.HasSuffix(sh.Path, ".zst") {
		zr, err := zstd.NewReader(counted, zstd.WithDecoderConcurrency(1))
		if err != nil {
			r.fail("%s: %v", sh.Path, err)
			return 0
		}
		defer zr.Close()
		body = zr
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		where := fmt.Sprintf("%s line %d", sh.Path, n)
		validateRecord(ctx, store, where, sc.Bytes(), ids, images, r)
	}
	if err := sc.Err(); err != nil {
		r.fail("%s: %v", sh.Path, err)
		return n
	}
	io.Copy(io.Discard, counted) // the hash covers the whole file
	if counted.n != sh.Bytes {
		r.fail("%s: %d bytes, manifest says %d", sh.Path, counted.n, sh.Bytes)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != sh.SHA256 {
		r.fail("%s: sha256 %s, manifest says %s", sh.Path, sum, sh.SHA256)
	}
	return n
}

func validateRecord(ctx context.Context, store blob.Store, where string, line []byte, ids map[string]string, images map[string]bool, r *Report) {
	if err := schemas.ValidateJSON(schemas.Record, line); err != nil {
		r.fail("%s: %v", where, err)
		return
	}
	var rec Record
	if err := json.Unmarshal(line, &rec); err != nil {
		r.fail("%s: %v", where, err)
		return
	}
	where = fmt.Sprintf("%s (%s)", where, rec.ID)
	if prev, dup := ids[rec.ID]; dup {
		r.fail("%s: duplicate id, first seen at %s", where, prev)
	}
	ids[rec.ID] = where
	var paths []string
	switch v := rec.Image.(type) {
	case string:
		paths = []string{v}
	case []any:
		for _, p := range v {
			paths = append(paths, p.(string))
		}
	}
	for _, p := range paths {
		if images[p] {
			continue
		}
		ok, err := blob.Exists(ctx, store, p)
		if err != nil || !ok {
			r.fail("%s: image %s is missing", where, p)
			continue
		}
		images[p] = true
	}
	for k, msg := range rec.Conversations {
		want := "human"
		if k%2 == 1 {
			want = "gpt"
		}
		if msg.From != want {
			r.fail("%s: turn %d is from %q, want %q (turns alternate, human first)", where, k, msg.From, want)
			break
		}
		if k > 0 && strings.Contains(msg.Value, "<image>") {
			r.fail("%s: turn %d has an <image> token; they belong in the first human turn", where, k)
		}
	}
	if len(rec.Conversations)%2 != 0 {
		r.fail("%s: %d conversation turns, want pairs", where, len(rec.Conversations))
	}
	if len(rec.Conversations) > 0 {
		if got := strings.Count(rec.Conversations[0].Value, "<image>"); got != len(paths) {
			r.fail("%s: %d <image> tokens for %d images", where, got, len(paths))
		}
	}
	asked := 0
	for _, t := range rec.Meta.Turns {
		if !t.Missing {
			asked++
			if t.Index != asked {
				r.fail("%s: meta turn %d has index %d", where, asked, t.Index)
			}
		}
	}
	if asked*2 != len(rec.Conversations) {
		r.fail("%s: meta lists %d asked turns, conversation has %d", where, asked, len(rec.Conversations)/2)
	}
}

func validateRejects(ctx context.Context, store blob.Store, info RejectsInfo, r *Report) {
	b, err := blob.ReadAll(ctx, store, info.Path)
	if err != nil {
		r.fail("%s: %v", info.Path, err)
		return
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != info.SHA256 {
		r.fail("%s: sha256 does not match the manifest", info.Path)
	}
	n := 0
	for k, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		n++
		var rj Reject
		if err := json.Unmarshal([]byte(line), &rj); err != nil || rj.Item == "" || rj.Reason == "" {
			r.fail("%s line %d: want {item, index, code, reason}", info.Path, k+1)
		}
	}
	if n != info.Count {
		r.fail("%s: %d rejects, manifest says %d", info.Path, n, info.Count)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
