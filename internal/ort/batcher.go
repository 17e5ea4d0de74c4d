package ort

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ErrClosed is returned by Batcher.Run after Close.
var ErrClosed = errors.New("ort: batcher closed")

// BatchOptions size a Batcher.
type BatchOptions struct {
	// MaxBatch is the most rows run together (B); default 8.
	MaxBatch int
	// MaxWait is how long the first item of a batch waits for company (T)
	// before a partial batch is run; default 5ms. Once it has passed, the
	// batch still takes newcomers until a runner is free to take it, so a
	// busy accelerator always gets the fullest batch on offer.
	MaxWait time.Duration
	// Runners is the number of batches in flight at once; default 1 (one
	// GPU stream). More can help a CPU model that leaves cores idle.
	Runners int
}

// Batcher gathers single items from many goroutines into batches along the
// first dimension, runs them on one Session and hands each caller its own
// rows of every output. Callers block only on their own result; while one
// batch runs, the next is being filled, so image decoding and geometry in
// the callers overlap with inference.
type Batcher struct {
	s       *Session
	opt     BatchOptions
	reqs    chan *request
	batches chan *batch
	quit    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	// spare holds float32 batch buffers back from finished runs, so that
	// a steady stream of batches does not allocate (and zero) new ones.
	spare sync.Pool
}

type request struct {
	ctx    context.Context
	inputs []Tensor
	rows   int64
	done   chan result // buffered: a runner never waits on a caller
}

type result struct {
	outs []Tensor
	err  error
}

// batch is a set of requests whose inputs are already concatenated.
type batch struct {
	reqs   []*request
	inputs []Tensor
	rows   int64
}

// NewBatcher starts a batcher over s; Close stops it.
func NewBatcher(s *Session, o BatchOptions) *Batcher {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 8
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Millisecond
	}
	if o.Runners <= 0 {
		o.Runners = 1
	}
	b := &Batcher{
		s:       s,
		opt:     o,
		reqs:    make(chan *request),
		batches: make(chan *batch),
		quit:    make(chan struct{}),
	}
	b.wg.Add(1 + o.Runners)
	go b.collect()
	for range o.Runners {
		go b.runner()
	}
	return b
}

// Run submits one item: inputs in the session's contract order, each with
// the same leading (batch) dimension, usually 1. It returns the item's rows
// of every output. Cancelling ctx returns at once; the item's rows are then
// computed (if its batch has started) and dropped.
func (b *Batcher) Run(ctx context.Context, inputs ...Tensor) ([]Tensor, error) {
	r, err := b.newRequest(ctx, inputs)
	if err != nil {
		return nil, err
	}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.quit:
		return nil, ErrClosed
	}
	select {
	case res := <-r.done:
		return res.outs, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *Batcher) newRequest(ctx context.Context, inputs []Tensor) (*request, error) {
	if err := b.s.checkInputs(inputs, true); err != nil {
		return nil, err
	}
	rows := int64(-1)
	for _, t := range inputs {
		if rows >= 0 && t.Shape[0] != rows {
			return nil, fmt.Errorf("ort: model %s: inputs disagree on the batch dimension (%d vs %d)", b.s.path, rows, t.Shape[0])
		}
		rows = t.Shape[0]
	}
	if rows <= 0 {
		return nil, fmt.Errorf("ort: model %s: empty item", b.s.path)
	}
	return &request{ctx: ctx, inputs: inputs, rows: rows, done: make(chan result, 1)}, nil
}

// Close stops taking items, lets batches already formed finish, fails the
// rest with ErrClosed and waits for the goroutines. The session stays open.
func (b *Batcher) Close() {
	b.once.Do(func() { close(b.quit) })
	b.wg.Wait()
}

// collect forms batches: it concatenates each item into the batch as it
// arrives, so that handing a batch to a runner costs nothing.
func (b *Batcher) collect() {
	defer b.wg.Done()
	defer close(b.batches)
	var cur *batch
	fail := func(bt *batch) {
		for _, r := range bt.reqs {
			r.done <- result{err: ErrClosed}
		}
	}
	for {
		if cur == nil {
			select {
			case r := <-b.reqs:
				if dropped(r) {
					continue
				}
				cur = b.start(r)
			case <-b.quit:
				return
			}
		}
		// Fill until full or until MaxWait has passed, then keep filling
		// while waiting for a runner.
		timer := time.NewTimer(b.opt.MaxWait)
		var next *batch // an item that could not join cur
		expired := false
		for next == nil && cur.rows < int64(b.opt.MaxBatch) {
			var send chan *batch
			if expired {
				send = b.batches
			}
			select {
			case r := <-b.reqs:
				if dropped(r) {
					break
				}
				if fits(cur, r, int64(b.opt.MaxBatch)) {
					b.add(cur, r)
				} else {
					next = b.start(r)
				}
			case <-timer.C:
				expired = true
			case send <- cur:
				cur = nil
			case <-b.quit:
				timer.Stop()
				fail(cur)
				if next != nil {
					fail(next)
				}
				return
			}
			if cur == nil {
				break
			}
		}
		timer.Stop()
		if cur != nil {
			select {
			case b.batches <- cur:
			case <-b.quit:
				fail(cur)
				if next != nil {
					fail(next)
				}
				return
			}
		}
		cur = next
	}
}

// dropped answers a request whose caller has already given up, so that it
// takes no room in a batch.
func dropped(r *request) bool {
	if err := r.ctx.Err(); err != nil {
		r.done <- result{err: err}
		return true
	}
	return false
}

// fits reports whether r can join bt: same element types and same shape
// past the batch dimension, and room left.
func fits(bt *batch, r *request, max int64) bool {
	if bt.rows+r.rows > max {
		return false
	}
	for i, t := range r.inputs {
		have := bt.inputs[i]
		if t.Type() != have.Type() || !slices.Equal(t.Shape[1:], have.Shape[1:]) {
			return false
		}
	}
	return true
}

func (b *Batcher) start(r *request) *batch {
	bt := &batch{inputs: make([]Tensor, len(r.inputs))}
	max := max(int64(b.opt.MaxBatch), r.rows)
	for i, t := range r.inputs {
		per := int(Elems(t.Shape[1:]))
		shape := slices.Clone(t.Shape)
		shape[0] = 0
		switch t.Type() {
		case Int64:
			bt.inputs[i] = Tensor{Shape: shape, I64: make([]int64, 0, per*int(max))}
		case Int32:
			bt.inputs[i] = Tensor{Shape: shape, I32: make([]int32, 0, per*int(max))}
		default:
			bt.inputs[i] = Tensor{Shape: shape, F32: b.floats(per * int(max))}
		}
	}
	b.add(bt, r)
	return bt
}

func (b *Batcher) floats(n int) []float32 {
	if p, ok := b.spare.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]float32, 0, n)
}

func (b *Batcher) add(bt *batch, r *request) {
	for i, t := range r.inputs {
		in := &bt.inputs[i]
		in.Shape[0] += r.rows
		in.F32 = append(in.F32, t.F32...)
		in.I64 = append(in.I64, t.I64...)
		in.I32 = append(in.I32, t.I32...)
	}
	bt.reqs = append(bt.reqs, r)
	bt.rows += r.rows
}

func (b *Batcher) runner() {
	defer b.wg.Done()
	for bt := range b.batches {
		b.run(bt)
	}
}

func (b *Batcher) run(bt *batch) {
	live := false
	for _, r := range bt.reqs {
		if r.ctx.Err() == nil {
			live = true
		}
	}
	if !live {
		for _, r := range bt.reqs {
			r.done <- result{err: r.ctx.Err()}
		}
		return
	}
	// One caller giving up must not abort the others' rows.
	outs, err := b.s.Run(context.Background(), bt.inputs...)
	// The outputs are separate memory, so the inputs can serve again.
	for _, in := range bt.inputs {
		if in.F32 != nil {
			f := in.F32
			b.spare.Put(&f)
		}
	}
	if err == nil {
		for i, o := range outs {
			if len(o.Shape) == 0 || o.Shape[0] != bt.rows {
				err = fmt.Errorf("ort: model %s: output %q has shape %v, cannot split it into a batch of %d along the first dimension",
					b.s.path, b.s.contract.Outputs[i].Name, o.Shape, bt.rows)
				break
			}
		}
	}
	if err != nil {
		for _, r := range bt.reqs {
			r.done <- result{err: err}
		}
		return
	}
	off := int64(0)
	for _, r := range bt.reqs {
		mine := make([]Tensor, len(outs))
		for i, o := range outs {
			mine[i] = rows(o, off, r.rows)
		}
		off += r.rows
		r.done <- result{outs: mine}
	}
}

// rows slices n rows from off out of t, sharing its memory.
func rows(t Tensor, off, n int64) Tensor {
	per := Elems(t.Shape[1:])
	lo, hi := off*per, (off+n)*per
	shape := slices.Clone(t.Shape)
	shape[0] = n
	out := Tensor{Shape: shape}
	switch t.Type() {
	case Int64:
		out.I64 = t.I64[lo:hi:hi]
	case Int32:
		out.I32 = t.I32[lo:hi:hi]
	default:
		out.F32 = t.F32[lo:hi:hi]
	}
	return out
}

// Each calls fn(ctx, i) for i in [0, n) from up to limit goroutines at once
// (so that items reach a Batcher together, without preparing all n inputs
// up front). The first failure cancels the rest, and its error is returned
// rather than the cancellations it caused.
func Each(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, max(1, limit))
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
