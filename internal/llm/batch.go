package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	openai "github.com/sashabaranov/go-openai"

	"github.com/boostgen/boostgen/internal/blob"
)

// BatchPrefix is where batch jobs keep their state in the store.
const BatchPrefix = "llm/batches/"

// BatchResult is one request's outcome in a batch: a response (which is also
// in the cache) or the reason it has none.
type BatchResult struct {
	Response Response
	Err      error
}

// batchState is a job's progress, written to the store after every step so
// that a killed run resumes by batch id instead of paying again.
type batchState struct {
	Job   string      `json:"job"`
	Parts []batchPart `json:"parts"`
}

type batchPart struct {
	InputFileID string            `json:"input_file_id"`
	BatchID     string            `json:"batch_id,omitempty"`
	Status      string            `json:"status,omitempty"`
	Keys        []string          `json:"keys"`   // custom_id of each line: its cache key
	Stages      []string          `json:"stages"` // stage of each line, for the tally
	Collected   bool              `json:"collected,omitempty"`
	Failed      map[string]string `json:"failed,omitempty"` // custom_id -> reason
}

var jobName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

var errBatchMissing = errors.New("no result in the batch output")

// RunBatch answers reqs through the Batch API at the batch price. Requests
// already in the cache are not sent. The rest are written as JSONL files
// (at most BatchMaxRequests lines and BatchMaxBytes each), uploaded to
// /v1/files, submitted to /v1/batches and polled every BatchPollInterval
// until done; the results go into the cache, so the stages then find them
// there. job names the state kept under BatchPrefix: calling RunBatch again
// with the same job (after a crash, a cancel or a timeout) polls the batches
// already submitted instead of submitting them again, and sends again the
// requests whose lines failed or expired last time.
//
// The returned slice matches reqs. The error is non-nil only when the job
// could not proceed (the context ended, the API or the store failed); per
// request failures, including ErrBudget for requests the budget left out,
// are in the results.
func (c *Client) RunBatch(ctx context.Context, job string, reqs []Request) ([]BatchResult, error) {
	if c.store == nil {
		return nil, errors.New("llm batch: a store is required for batch state and results")
	}
	if !jobName.MatchString(job) {
		return nil, fmt.Errorf("llm batch: job name %q must be 1-128 letters, digits, '.', '_' or '-'", job)
	}
	keys := make([]string, len(reqs))
	bodies := map[string]openai.ChatCompletionRequest{}
	stages := map[string]string{}
	for i, r := range reqs {
		body, k, err := c.keyedRequest(r)
		if err != nil {
			return nil, fmt.Errorf("llm batch %s: request %d: %w", job, i, err)
		}
		keys[i] = k
		bodies[k] = body
		stages[k] = r.Stage
	}

	st, err := c.loadBatchState(ctx, job)
	if err != nil {
		return nil, err
	}
	// Keys of parts still running are waited for, not sent again. Keys of
	// collected parts that have no answer (failed or expired lines, which
	// cost nothing) are sent again: a rerun retries them.
	inParts := map[string]bool{}
	for _, p := range st.Parts {
		if p.Collected {
			continue
		}
		for _, k := range p.Keys {
			inParts[k] = true
		}
	}

	// Pending: not cached and not in a running part, in the caller's order:
	// a budget admits the first requests, not whichever hash sorts first
	// (cache keys cover the endpoint, so their order changes with it).
	var pending []string
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] || inParts[k] {
			continue
		}
		seen[k] = true
		if _, ok, err := c.cacheGet(ctx, k); err != nil {
			return nil, err
		} else if !ok {
			pending = append(pending, k)
		}
	}

	// The budget admits requests one by one at their estimated batch price;
	// the estimates stay reserved until the part is collected or we return.
	type admittedLine struct {
		key  string
		line []byte
		est  float64
	}
	overBudget := map[string]bool{}
	tooBig := map[string]error{}
	var admitted []admittedLine
	var outstanding float64
	defer func() { c.release(outstanding) }()
	for _, k := range pending {
		est := c.estimateCost(bodies[k], c.cfg.BatchDiscount)
		if err := c.reserve(est); err != nil {
			overBudget[k] = true
			continue
		}
		line, err := json.Marshal(openai.BatchChatCompletionRequest{
			CustomID: k, Body: bodies[k], Method: http.MethodPost, URL: openai.BatchEndpointChatCompletions,
		})
		if err != nil {
			c.release(est)
			return nil, fmt.Errorf("llm batch %s: encode request: %w", job, err)
		}
		if int64(len(line)+1) > c.cfg.BatchMaxBytes {
			c.release(est)
			tooBig[k] = fmt.Errorf("request is %d bytes, over the batch file limit of %d", len(line)+1, c.cfg.BatchMaxBytes)
			continue
		}
		outstanding += est
		admitted = append(admitted, admittedLine{key: k, line: line, est: est})
	}
	// Files list the admitted lines sorted by key, so the same requests
	// make the same files (and the same batches) whatever their order.
	slices.SortFunc(admitted, func(a, b admittedLine) int { return strings.Compare(a.key, b.key) })

	reservedFor := map[int]float64{}
	collected := func(part int) {
		if v, ok := reservedFor[part]; ok {
			c.release(v)
			outstanding -= v
			delete(reservedFor, part)
		}
	}

	// Split into files and upload each, recording the file id before the
	// batch is created so that a crash in between does not upload twice.
	for start := 0; start < len(admitted); {
		end, size := start, int64(0)
		for end < len(admitted) && end-start < c.cfg.BatchMaxRequests && size+int64(len(admitted[end].line)+1) <= c.cfg.BatchMaxBytes {
			size += int64(len(admitted[end].line) + 1)
			end++
		}
		var part batchPart
		var partCost float64
		file := make([]byte, 0, size)
		for _, a := range admitted[start:end] {
			part.Keys = append(part.Keys, a.key)
			part.Stages = append(part.Stages, stages[a.key])
			partCost += a.est
			file = append(append(file, a.line...), '\n')
		}
		var f openai.File
		err := c.do(ctx, "batch", 0, func(ctx context.Context) error {
			var err error
			f, err = c.api.CreateFileBytes(ctx, openai.FileBytesRequest{
				Name: fmt.Sprintf("%s-%d.jsonl", job, len(st.Parts)), Bytes: file, Purpose: openai.PurposeBatch,
			})
			return err
		})
		if err != nil {
			return nil, c.scrub(fmt.Errorf("llm batch %s: upload part %d: %w", job, len(st.Parts), err))
		}
		part.InputFileID = f.ID
		reservedFor[len(st.Parts)] = partCost
		st.Parts = append(st.Parts, part)
		if err := c.saveBatchState(ctx, st); err != nil {
			return nil, err
		}
		start = end
	}
	for i := range st.Parts {
		p := &st.Parts[i]
		if p.BatchID != "" {
			continue
		}
		var b openai.BatchResponse
		err := c.do(ctx, "batch", 0, func(ctx context.Context) error {
			var err error
			b, err = c.api.CreateBatch(ctx, openai.CreateBatchRequest{
				InputFileID: p.InputFileID, Endpoint: openai.BatchEndpointChatCompletions,
				CompletionWindow: c.cfg.BatchWindow, Metadata: map[string]any{"boostgen_job": job, "part": fmt.Sprint(i)},
			})
			return err
		})
		if err != nil {
			return nil, c.scrub(fmt.Errorf("llm batch %s: create batch for part %d (file %s): %w", job, i, p.InputFileID, err))
		}
		p.BatchID, p.Status = b.ID, b.Status
		if err := c.saveBatchState(ctx, st); err != nil {
			return nil, err
		}
		c.log.Info("llm batch: submitted", "job", job, "part", i, "batch", b.ID, "requests", len(p.Keys))
	}

	if err := c.pollBatches(ctx, st, collected); err != nil {
		return nil, err
	}

	failed := map[string]string{}
	for _, p := range st.Parts { // later parts hold the latest attempt
		for k, why := range p.Failed {
			failed[k] = why
		}
	}
	out := make([]BatchResult, len(reqs))
	for i, k := range keys {
		resp, ok, err := c.cacheGet(ctx, k)
		switch {
		case err != nil:
			return nil, err
		case ok:
			out[i].Response = resp
		case overBudget[k]:
			out[i].Err = fmt.Errorf("llm batch %s: request %d: %w", job, i, ErrBudget)
		case tooBig[k] != nil:
			out[i].Err = fmt.Errorf("llm batch %s: request %d: %w", job, i, tooBig[k])
		case failed[k] != "":
			out[i].Err = fmt.Errorf("llm batch %s: request %d: %s", job, i, c.key.Redact(failed[k]))
		default:
			out[i].Err = fmt.Errorf("llm batch %s: request %d: %w", job, i, errBatchMissing)
		}
	}
	return out, nil
}

var batchTerminal = map[string]bool{"completed": true, "failed": true, "expired": true, "cancelled": true}

// pollBatches waits for every uncollected part to finish and collects it.
func (c *Client) pollBatches(ctx context.Context, st *batchState, collected func(part int)) error {
	for {
		waiting := 0
		for i := range st.Parts {
			p := &st.Parts[i]
			if p.Collected {
				continue
			}
			var b openai.BatchResponse
			err := c.do(ctx, "batch", 0, func(ctx context.Context) error {
				var err error
				b, err = c.api.RetrieveBatch(ctx, p.BatchID)
				return err
			})
			if err != nil {
				return c.scrub(fmt.Errorf("llm batch %s: poll %s: %w", st.Job, p.BatchID, err))
			}
			if b.Status != p.Status {
				c.log.Info("llm batch: status", "job", st.Job, "batch", p.BatchID, "status", b.Status,
					"completed", b.RequestCounts.Completed, "failed", b.RequestCounts.Failed, "total", b.RequestCounts.Total)
				p.Status = b.Status
			}
			if !batchTerminal[b.Status] {
				waiting++
				continue
			}
			if err := c.collect(ctx, st.Job, p, b.Batch); err != nil {
				return err
			}
			collected(i)
			p.Collected = true
			if err := c.saveBatchState(ctx, st); err != nil {
				return err
			}
		}
		if waiting == 0 {
			return nil
		}
		if err := c.saveBatchState(ctx, st); err != nil {
			return err
		}
		if err := c.sleep(ctx, c.cfg.BatchPollInterval.D()); err != nil {
			return err
		}
	}
}

// collect reads a finished batch's output and error files into the cache
// and the part's failure list. Expired and cancelled batches still return
// the lines they finished.
func (c *Client) collect(ctx context.Context, job string, p *batchPart, b openai.Batch) error {
	stageOf := map[string]string{}
	for i, k := range p.Keys {
		stageOf[k] = p.Stages[i]
	}
	if p.Failed == nil {
		p.Failed = map[string]string{}
	}
	if b.Status == "failed" && b.Errors != nil {
		why := "batch failed"
		for _, e := range b.Errors.Data {
			why += fmt.Sprintf("; %s: %s", e.Code, e.Message)
		}
		for _, k := range p.Keys {
			p.Failed[k] = why
		}
	}
	for _, id := range []*string{b.OutputFileID, b.ErrorFileID} {
		if id == nil || *id == "" {
			continue
		}
		err := c.readBatchFile(ctx, *id, func(line batchOutputLine) error {
			if _, ok := stageOf[line.CustomID]; !ok {
				return nil // not ours; nothing to do with it
			}
			resp, why := line.result()
			if why != "" {
				p.Failed[line.CustomID] = why
				return nil
			}
			delete(p.Failed, line.CustomID)
			if _, ok, err := c.cacheGet(ctx, line.CustomID); err != nil || ok {
				return err // already collected by an earlier, interrupted run
			}
			c.charge(stageOf[line.CustomID], resp, c.cfg.BatchDiscount)
			return c.cachePut(ctx, line.CustomID, resp)
		})
		if err != nil {
			return c.scrub(fmt.Errorf("llm batch %s: read results file %s of %s: %w", job, *id, p.BatchID, err))
		}
	}
	return nil
}

type batchOutputLine struct {
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// result is the line's response, or why it has none.
func (l batchOutputLine) result() (Response, string) {
	if l.Error != nil {
		return Response{}, fmt.Sprintf("batch line error %s: %s", l.Error.Code, l.Error.Message)
	}
	if l.Response == nil {
		return Response{}, "batch line has neither response nor error"
	}
	if l.Response.StatusCode != http.StatusOK {
		var e openai.ErrorResponse
		if json.Unmarshal(l.Response.Body, &e) == nil && e.Error != nil {
			return Response{}, fmt.Sprintf("HTTP %d %v: %s", l.Response.StatusCode, e.Error.Code, e.Error.Message)
		}
		return Response{}, fmt.Sprintf("HTTP %d", l.Response.StatusCode)
	}
	var out openai.ChatCompletionResponse
	if err := json.Unmarshal(l.Response.Body, &out); err != nil {
		return Response{}, fmt.Sprintf("%v: body is not valid JSON: %v", errMalformed, err)
	}
	r, err := responseFrom(out)
	if err != nil {
		return Response{}, err.Error()
	}
	return r, ""
}

func (c *Client) readBatchFile(ctx context.Context, fileID string, each func(batchOutputLine) error) error {
	var data []byte
	err := c.do(ctx, "batch", 0, func(ctx context.Context) error {
		raw, err := c.api.GetFileContent(ctx, fileID)
		if err != nil {
			return err
		}
		defer raw.Close()
		data, err = io.ReadAll(raw)
		return err
	})
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var line batchOutputLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := each(line); err != nil {
			return err
		}
	}
	return sc.Err()
}

func batchStatePath(job string) string { return BatchPrefix + job + ".json" }

func (c *Client) loadBatchState(ctx context.Context, job string) (*batchState, error) {
	b, err := blob.ReadAll(ctx, c.store, batchStatePath(job))
	if errors.Is(err, blob.ErrNotExist) {
		return &batchState{Job: job}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("llm batch %s: read state: %w", job, err)
	}
	var st batchState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("llm batch %s: state %s is damaged: %w", job, batchStatePath(job), err)
	}
	return &st, nil
}

func (c *Client) saveBatchState(ctx context.Context, st *batchState) error {
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := blob.Put(ctx, c.store, batchStatePath(st.Job), b); err != nil {
		return fmt.Errorf("llm batch %s: save state: %w", st.Job, err)
	}
	return nil
}

// BatchIDs lists the batch ids a job has submitted, for logs and manifests.
func (c *Client) BatchIDs(ctx context.Context, job string) ([]string, error) {
	if c.store == nil {
		return nil, nil
	}
	st, err := c.loadBatchState(ctx, job)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range st.Parts {
		if p.BatchID != "" {
			ids = append(ids, p.BatchID)
		}
	}
	return ids, nil
}
