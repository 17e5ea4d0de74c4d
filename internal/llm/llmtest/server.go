// Package llmtest is a local OpenAI-compatible server for tests. It speaks
// the real API's shapes for the endpoints boostgen uses (chat completions
// with Structured Outputs, files, batches), answers with a function the test
// supplies, and injects the faults a real endpoint produces: rate limits
// with Retry-After, server errors, stalls, malformed bodies, exhausted quota.
// It listens on 127.0.0.1 only.
package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/time/rate"
)

// AnswerFunc produces the assistant's reply to a chat request. A non-nil
// error is returned to the client as a 400 invalid_request_error (in batch
// mode, as a failed line).
type AnswerFunc func(req openai.ChatCompletionRequest) (string, error)

// Fault is what the server does with one chat completion request instead of
// answering it normally.
type Fault int

const (
	// Answer normally.
	None Fault = iota
	// RateLimit answers 429 rate_limit_exceeded with Retry-After (RetryAfter).
	RateLimit
	// ServerError answers 500.
	ServerError
	// Stall never answers; the request ends when the client gives up.
	Stall
	// MalformedJSON answers 200 with a body cut off mid-JSON.
	MalformedJSON
	// SchemaViolation answers 200 with content that ignores the schema.
	SchemaViolation
	// InsufficientQuota answers 429 insufficient_quota, as OpenAI does when
	// an account has no credit.
	InsufficientQuota
	// EchoAuth answers 401 with the Authorization header in the message,
	// like a careless proxy: the client must not pass it on.
	EchoAuth
	// BadRequest answers 400 invalid_request_error.
	BadRequest
)

var faultNames = [...]string{"none", "rate-limit", "server-error", "stall", "malformed-json",
	"schema-violation", "insufficient-quota", "echo-auth", "bad-request"}

func (f Fault) String() string { return faultNames[f] }

// Server is the fake endpoint. Create it with New and Close it when done.
type Server struct {
	// URL is the API base, ".../v1", for Config.BaseURL.
	URL string
	// RetryAfter is the Retry-After value sent with RateLimit faults
	// (default "7").
	RetryAfter string
	// PromptTokens and CompletionTokens are reported as each answer's usage
	// (defaults 1000 and 100), so tests can predict costs exactly.
	PromptTokens, CompletionTokens int
	// Now is the enforced rate limit's clock (default time.Now); tests that
	// fake their sleeps advance it with them.
	Now func() time.Time

	srv    *httptest.Server
	answer AnswerFunc
	closed chan struct{}

	mu       sync.Mutex
	faults   []Fault
	limiter  *rate.Limiter
	counts   map[string]int
	chatN    int
	limited  int
	auth     map[string]int
	files    map[string]file
	batches  map[string]*openai.Batch
	batchSeq int
	fileSeq  int
	expireAt int
}

// ExpireBatches makes batches finishing from now on expire after answering
// n lines (0: never): the rest go to the error file with code batch_expired,
// as the real API does when the completion window ends.
func (s *Server) ExpireBatches(n int) {
	s.mu.Lock()
	s.expireAt = n
	s.mu.Unlock()
}

type file struct {
	meta openai.File
	data []byte
}

// New starts a server on 127.0.0.1 that answers with answer.
func New(answer AnswerFunc) *Server {
	s := &Server{
		RetryAfter:       "7",
		PromptTokens:     1000,
		CompletionTokens: 100,
		answer:           answer,
		closed:           make(chan struct{}),
		counts:           map[string]int{},
		auth:             map[string]int{},
		files:            map[string]file{},
		batches:          map[string]*openai.Batch{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("POST /v1/files", s.uploadFile)
	mux.HandleFunc("GET /v1/files/{id}", s.getFile)
	mux.HandleFunc("GET /v1/files/{id}/content", s.fileContent)
	mux.HandleFunc("POST /v1/batches", s.createBatch)
	mux.HandleFunc("GET /v1/batches/{id}", s.getBatch)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[r.Method+" "+r.URL.Path]++
		s.auth[r.Header.Get("Authorization")]++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close stops the server, releasing stalled requests first.
func (s *Server) Close() {
	close(s.closed)
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Fail queues faults for the next chat completion requests, one each.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, faults...)
	s.mu.Unlock()
}

// LimitRPM makes the server enforce a rate limit: requests beyond rpm per
// minute (with the given burst) get 429 and a Retry-After saying when the
// next one would be allowed.
func (s *Server) LimitRPM(rpm float64, burst int) {
	s.mu.Lock()
	s.limiter = rate.NewLimiter(rate.Limit(rpm/60), burst)
	s.mu.Unlock()
}

// ChatRequests is the number of chat completion requests received, faulty
// ones included.
func (s *Server) ChatRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chatN
}

// Count is the number of requests received for "METHOD /path".
func (s *Server) Count(methodPath string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[methodPath]
}

// RateLimited is the number of requests the enforced limit turned away.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited
}

// AuthHeaders is how many requests carried each Authorization header value.
func (s *Server) AuthHeaders() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.auth {
		out[k] = v
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, errBody(typ, code, msg))
}

func (s *Server) nextFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatN++
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		return f
	}
	if s.limiter != nil {
		if !s.limiter.AllowN(s.now(), 1) {
			s.limited++
			return RateLimit
		}
	}
	return None
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) retryAfterFor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limiter == nil {
		return s.RetryAfter
	}
	now := s.now()
	r := s.limiter.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, 400, "invalid_request_error", "", "could not read body")
		return
	}
	fault := s.nextFault()
	switch fault {
	case RateLimit:
		w.Header().Set("Retry-After", s.retryAfterFor())
		writeError(w, 429, "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later.")
		return
	case ServerError:
		writeError(w, 500, "server_error", "", "The server had an error while processing your request.")
		return
	case Stall:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	case InsufficientQuota:
		writeError(w, 429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota, please check your plan and billing details.")
		return
	case EchoAuth:
		writeError(w, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided: "+r.Header.Get("Authorization"))
		return
	case BadRequest:
		writeError(w, 400, "invalid_request_error", "", "Invalid request.")
		return
	}
	status, resp := s.complete(body)
	if fault == MalformedJSON && status == 200 {
		b, _ := json.Marshal(resp)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.Write(b[:len(b)/2])
		return
	}
	if fault == SchemaViolation && status == 200 {
		c := resp.(openai.ChatCompletionResponse)
		c.Choices[0].Message.Content = `{"unexpected": "this does not follow the schema"}`
		resp = c
	}
	writeJSON(w, status, resp)
}

// complete answers one chat request body; it is shared by the synchronous
// endpoint and batch processing.
func (s *Server) complete(body []byte) (int, any) {
	var req openai.ChatCompletionRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return 400, errBody("invalid_request_error", "", "We could not parse the JSON body of your request: "+err.Error())
	}
	if req.Model == "" {
		return 400, errBody("invalid_request_error", "", "you must provide a model parameter")
	}
	if len(req.Messages) == 0 {
		return 400, errBody("invalid_request_error", "", "'messages' must contain at least one message")
	}
	for i, m := range req.Messages {
		for _, p := range m.MultiContent {
			if p.Type == openai.ChatMessagePartTypeImageURL {
				if p.ImageURL == nil || !strings.HasPrefix(p.ImageURL.URL, "data:image/") && !strings.HasPrefix(p.ImageURL.URL, "http") {
					return 400, errBody("invalid_request_error", "invalid_image_url", fmt.Sprintf("messages[%d]: invalid image_url", i))
				}
				switch p.ImageURL.Detail {
				case "", "low", "high", "auto":
				default:
					return 400, errBody("invalid_request_error", "", fmt.Sprintf("messages[%d]: invalid detail %q", i, p.ImageURL.Detail))
				}
			}
		}
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == openai.ChatCompletionResponseFormatTypeJSONSchema {
		if rf.JSONSchema == nil || rf.JSONSchema.Name == "" {
			return 400, errBody("invalid_request_error", "", "Missing required parameter: 'response_format.json_schema.name'.")
		}
		raw, _ := json.Marshal(rf.JSONSchema.Schema)
		if rf.JSONSchema.Strict {
			if msg := strictProblem(raw, ""); msg != "" {
				return 400, errBody("invalid_request_error", "", fmt.Sprintf("Invalid schema for response_format '%s': %s", rf.JSONSchema.Name, msg))
			}
		}
	}
	content, err := s.answer(req)
	if err != nil {
		return 400, errBody("invalid_request_error", "", err.Error())
	}
	s.mu.Lock()
	id := s.fileSeq + s.batchSeq + s.chatN
	s.mu.Unlock()
	return 200, openai.ChatCompletionResponse{
		ID:      fmt.Sprintf("chatcmpl-%d", id),
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   req.Model,
		Choices: []openai.ChatCompletionChoice{{
			Index:        0,
			Message:      openai.ChatCompletionMessage{Role: "assistant", Content: content},
			FinishReason: openai.FinishReasonStop,
		}},
		Usage: openai.Usage{PromptTokens: s.PromptTokens, CompletionTokens: s.CompletionTokens,
			TotalTokens: s.PromptTokens + s.CompletionTokens},
	}
}

func errBody(typ, code, msg string) map[string]any {
	var c any
	if code != "" {
		c = code
	}
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}}
}

// strictProblem checks the rules OpenAI applies to strict schemas: every
// object lists all its properties as required and sets
// additionalProperties to false.
func strictProblem(raw json.RawMessage, ctx string) string {
	var node map[string]json.RawMessage
	if json.Unmarshal(raw, &node) != nil {
		return ""
	}
	var typ string
	json.Unmarshal(node["type"], &typ)
	if typ == "object" {
		var props map[string]json.RawMessage
		json.Unmarshal(node["properties"], &props)
		var ap any
		json.Unmarshal(node["additionalProperties"], &ap)
		if ap != false {
			return fmt.Sprintf("In context=(%s), 'additionalProperties' is required to be supplied and to be false.", ctx)
		}
		var req []string
		json.Unmarshal(node["required"], &req)
		have := map[string]bool{}
		for _, r := range req {
			have[r] = true
		}
		for name, p := range props {
			if !have[name] {
				return fmt.Sprintf("In context=(%s), 'required' is required to be supplied and to be an array including every key in properties. Missing '%s'.", ctx, name)
			}
			if msg := strictProblem(p, ctx+"'properties', '"+name+"'"); msg != "" {
				return msg
			}
		}
	}
	if items, ok := node["items"]; ok {
		if msg := strictProblem(items, ctx+"'items'"); msg != "" {
			return msg
		}
	}
	return ""
}

func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(256 << 20); err != nil {
		writeError(w, 400, "invalid_request_error", "", "expected multipart/form-data: "+err.Error())
		return
	}
	purpose := r.FormValue("purpose")
	if purpose == "" {
		writeError(w, 400, "invalid_request_error", "", "Missing required parameter: 'purpose'.")
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		writeError(w, 400, "invalid_request_error", "", "Missing required parameter: 'file'.")
		return
	}
	data, _ := io.ReadAll(f)
	s.mu.Lock()
	s.fileSeq++
	meta := openai.File{ID: fmt.Sprintf("file-%d", s.fileSeq), Object: "file", Bytes: len(data),
		CreatedAt: time.Now().Unix(), FileName: hdr.Filename, Purpose: purpose, Status: "processed"}
	s.files[meta.ID] = file{meta: meta, data: data}
	s.mu.Unlock()
	writeJSON(w, 200, meta)
}

// file looks up the file a request names, answering 404 as the API does
// when there is none.
func (s *Server) file(w http.ResponseWriter, r *http.Request) (file, bool) {
	s.mu.Lock()
	f, ok := s.files[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeError(w, 404, "invalid_request_error", "", "No such File object: "+r.PathValue("id"))
	}
	return f, ok
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.file(w, r); ok {
		writeJSON(w, 200, f.meta)
	}
}

func (s *Server) fileContent(w http.ResponseWriter, r *http.Request) {
	f, ok := s.file(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(f.data)
}

// FileContent returns an uploaded file, for tests that inspect batch input.
func (s *Server) FileContent(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[id].data
}

// FileIDs lists uploaded files in upload order.
func (s *Server) FileIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for i := 1; i <= s.fileSeq; i++ {
		ids = append(ids, fmt.Sprintf("file-%d", i))
	}
	return ids
}

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	var req openai.CreateBatchRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "invalid_request_error", "", "could not parse body")
		return
	}
	if req.Endpoint != openai.BatchEndpointChatCompletions {
		writeError(w, 400, "invalid_request_error", "", fmt.Sprintf("unsupported endpoint %q", req.Endpoint))
		return
	}
	if req.CompletionWindow != "24h" {
		writeError(w, 400, "invalid_request_error", "", "completion_window must be 24h")
		return
	}
	s.mu.Lock()
	f, ok := s.files[req.InputFileID]
	if !ok || f.meta.Purpose != string(openai.PurposeBatch) {
		s.mu.Unlock()
		writeError(w, 400, "invalid_request_error", "", "input_file_id must name a file uploaded with purpose batch")
		return
	}
	s.batchSeq++
	b := &openai.Batch{ID: fmt.Sprintf("batch_%d", s.batchSeq), Object: "batch", Endpoint: req.Endpoint,
		InputFileID: req.InputFileID, CompletionWindow: req.CompletionWindow, Status: "validating",
		CreatedAt: int(time.Now().Unix()), Metadata: req.Metadata}
	s.batches[b.ID] = b
	s.mu.Unlock()
	writeJSON(w, 200, b)
}

// getBatch advances the batch one step per poll (validating, in_progress,
// completed), so clients must really poll; the lines are answered on the
// step to completed.
func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.batches[r.PathValue("id")]
	if !ok {
		s.mu.Unlock()
		writeError(w, 404, "invalid_request_error", "", "No such Batch object: "+r.PathValue("id"))
		return
	}
	var input []byte
	switch b.Status {
	case "validating":
		b.Status = "in_progress"
	case "in_progress":
		b.Status = "finalizing"
		input = s.files[b.InputFileID].data
	}
	s.mu.Unlock()
	if input != nil {
		s.runBatch(b, input)
	}
	s.mu.Lock()
	out := *b
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

func (s *Server) runBatch(b *openai.Batch, input []byte) {
	var out, errs bytes.Buffer
	var counts openai.BatchRequestCounts
	seen := map[string]bool{}
	var fail string
	var expired bool
	s.mu.Lock()
	expireAt := s.expireAt
	s.mu.Unlock()
	lines := bytes.Split(bytes.TrimRight(input, "\n"), []byte("\n"))
	if len(lines) > 50_000 || len(input) > 200<<20 {
		fail = "input file exceeds the batch limits of 50,000 requests or 200 MB"
	}
	for n, line := range lines {
		if fail != "" {
			break
		}
		var item struct {
			CustomID string          `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(line, &item); err != nil || item.CustomID == "" || item.Method != "POST" || item.URL != string(openai.BatchEndpointChatCompletions) {
			fail = fmt.Sprintf("line %d is not a valid batch request", n+1)
			break
		}
		if seen[item.CustomID] {
			fail = fmt.Sprintf("line %d: duplicate custom_id %s", n+1, item.CustomID)
			break
		}
		seen[item.CustomID] = true
		counts.Total++
		if expireAt > 0 && counts.Completed+counts.Failed >= expireAt {
			expired = true
			counts.Failed++
			rec, _ := json.Marshal(map[string]any{
				"id": fmt.Sprintf("batch_req_%d", n), "custom_id": item.CustomID, "response": nil,
				"error": map[string]any{"code": "batch_expired", "message": "This request could not be executed before the completion window expired."},
			})
			errs.Write(rec)
			errs.WriteByte('\n')
			continue
		}
		status, resp := s.complete(item.Body)
		rec, _ := json.Marshal(map[string]any{
			"id": fmt.Sprintf("batch_req_%d", n), "custom_id": item.CustomID,
			"response": map[string]any{"status_code": status, "request_id": fmt.Sprintf("req_%d", n), "body": resp},
			"error":    nil,
		})
		if status == 200 {
			counts.Completed++
			out.Write(rec)
			out.WriteByte('\n')
		} else {
			counts.Failed++
			errs.Write(rec)
			errs.WriteByte('\n')
		}
	}
	now := int(time.Now().Unix())
	s.mu.Lock()
	defer s.mu.Unlock()
	if fail != "" {
		b.Status = "failed"
		b.FailedAt = &now
		// go-openai declares Batch.Errors as an unnamed struct; the alias
		// names its element so the literal is written once.
		type batchError = struct {
			Code    string  `json:"code,omitempty"`
			Message string  `json:"message,omitempty"`
			Param   *string `json:"param,omitempty"`
			Line    *int    `json:"line,omitempty"`
		}
		b.Errors = &struct {
			Object string       `json:"object,omitempty"`
			Data   []batchError `json:"data"`
		}{Object: "list", Data: []batchError{{Code: "invalid_request", Message: fail}}}
		return
	}
	put := func(data []byte) *string {
		s.fileSeq++
		id := fmt.Sprintf("file-%d", s.fileSeq)
		s.files[id] = file{meta: openai.File{ID: id, Object: "file", Bytes: len(data), Purpose: "batch_output", Status: "processed"}, data: data}
		return &id
	}
	if out.Len() > 0 {
		b.OutputFileID = put(out.Bytes())
	}
	if errs.Len() > 0 {
		b.ErrorFileID = put(errs.Bytes())
	}
	b.RequestCounts = counts
	if expired {
		b.Status = "expired"
		b.ExpiredAt = &now
		return
	}
	b.Status = "completed"
	b.CompletedAt = &now
}
