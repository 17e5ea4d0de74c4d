// Package blob is the one small storage interface that boostgen's sources,
// sinks and caches share, in the spirit of rclone's backends: a local folder
// and S3 (and anything S3-compatible) implement it, and nothing above this
// package knows which one it is talking to.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// ErrNotExist is returned (wrapped) when a key does not exist.
var ErrNotExist = errors.New("blob: key does not exist")

// ErrExists is returned (wrapped) by PutIfAbsent when the key already exists:
// the commit protocol relies on it to let exactly one writer win.
var ErrExists = errors.New("blob: key already exists")

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Writer streams one object. Nothing is visible under the key until Close
// returns nil; Abort discards what was written. Calling Abort after Close is
// a no-op, so `defer w.Abort()` is the idiom.
type Writer interface {
	io.Writer
	Close() error
	Abort() error
}

// Store is a flat key space with '/'-separated keys, relative to the store's
// root (a folder, or an S3 bucket and prefix).
type Store interface {
	// Create starts a streamed, atomic write of key.
	Create(ctx context.Context, key string) (Writer, error)
	// PutIfAbsent writes small data under key only if nothing is there yet
	// (If-None-Match: * on S3); otherwise it returns an error wrapping ErrExists.
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// Open reads key; a missing key gives an error wrapping ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes key; a missing key gives an error wrapping ErrNotExist.
	Stat(ctx context.Context, key string) (Info, error)
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// String names the store for messages ("/data/out", "s3://bucket/prefix").
	String() string
}

// Put writes data under key in one call.
func Put(ctx context.Context, s Store, key string, data []byte) error {
	w, err := s.Create(ctx, key)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

// ReadAll reads the whole object under key.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Exists reports whether key exists.
func Exists(ctx context.Context, s Store, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Open opens a store from a location: "s3://bucket/prefix" goes to the S3
// backend registered by package s3 (see Register), anything else is a local
// folder.
func Open(ctx context.Context, location string) (Store, error) {
	if i := strings.Index(location, "://"); i > 0 {
		scheme := location[:i]
		opener, ok := openers[scheme]
		if !ok {
			return nil, errors.New("blob: no backend for " + scheme + ":// locations (known: local folders" + knownSchemes() + ")")
		}
		return opener(ctx, location)
	}
	return NewLocal(location)
}

// Opener opens a store for a location with a registered scheme.
type Opener func(ctx context.Context, location string) (Store, error)

var openers = map[string]Opener{}

// Register makes Open hand locations of scheme to opener. Backends call it
// from init, so that only binaries that import them pay for their dependencies.
func Register(scheme string, opener Opener) { openers[scheme] = opener }

func knownSchemes() string {
	var b strings.Builder
	for s := range openers {
		b.WriteString(", " + s + "://")
	}
	return b.String()
}
