package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Local is a Store in a folder of the local file system. Writes go to a
// temporary file beside the target and are renamed into place on Close, so a
// reader never sees half an object even if the process is killed.
type Local struct{ root string }

// NewLocal returns a store rooted at dir, creating dir if needed.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("blob: create %s: %w", dir, err)
	}
	return &Local{root: dir}, nil
}

func (l *Local) String() string { return l.root }

// Root is the folder the store lives in.
func (l *Local) Root() string { return l.root }

func (l *Local) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("blob: invalid key %q", key)
	}
	clean := filepath.Clean(filepath.FromSlash(key))
	if clean == "." || strings.HasPrefix(clean, "..") {
		return "", fmt.Errorf("blob: invalid key %q", key)
	}
	return filepath.Join(l.root, clean), nil
}

type localWriter struct {
	f      *os.File
	target string
	done   bool
}

func (w *localWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *localWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		return err
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return err
	}
	return os.Rename(w.f.Name(), w.target)
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}

func (l *Local) Create(_ context.Context, key string) (Writer, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := tempBeside(p)
	if err != nil {
		return nil, err
	}
	return &localWriter{f: f, target: p}, nil
}

// tmpPrefix starts the names of files being written; List skips them.
const tmpPrefix = ".tmp-"

// tempBeside creates the temporary file a write of p goes through, in p's
// folder (made if needed) so that moving it into place stays on one file
// system. os.CreateTemp makes it 0600; objects are data others read (a
// dataset on a shared disk, a preview served by a web server), so it
// gets 0644, as a file written with os.WriteFile would under the usual umask.
func tempBeside(p string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+filepath.Base(p)+"-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(objectMode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// objectMode is the permission of every object a Local store writes.
const objectMode = 0o644

func (l *Local) PutIfAbsent(_ context.Context, key string, data []byte) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	// Write the bytes to a temporary file, then hard-link it into place:
	// link(2) fails if the target exists, which makes the check-and-create
	// atomic, and the target never appears half-written.
	f, err := tempBeside(p)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(f.Name(), p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", key, ErrExists)
		}
		return err
	}
	return nil
}

func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotExist)
	}
	return f, err
}

func (l *Local) Stat(_ context.Context, key string) (Info, error) {
	p, err := l.path(key)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%s: %w", key, ErrNotExist)
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (l *Local) List(_ context.Context, prefix string) ([]Info, error) {
	var out []Info
	// Walk only the folder the prefix names: listing llm/spent/ must not
	// visit every image and cache entry of a large output.
	start := l.root
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		if dir := filepath.Clean(filepath.FromSlash(prefix[:i])); !filepath.IsAbs(dir) && !strings.HasPrefix(dir, "..") {
			start = filepath.Join(l.root, dir)
		}
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Info{Key: key, Size: st.Size(), ModTime: st.ModTime()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
