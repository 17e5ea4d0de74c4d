package blob

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLocalWriteIsAtomic(t *testing.T) {
	ctx := context.Background()
	s, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(ctx, "a/b/part-00000.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half"))
	if ok, _ := Exists(ctx, s, "a/b/part-00000.jsonl"); ok {
		t.Fatal("visible before Close")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadAll(ctx, s, "a/b/part-00000.jsonl"); err != nil || string(b) != "half" {
		t.Fatalf("read %q, %v", b, err)
	}
	// Abort leaves nothing, not even the temporary file.
	w2, _ := s.Create(ctx, "a/gone")
	w2.Write([]byte("x"))
	w2.Abort()
	list, _ := s.List(ctx, "")
	if len(list) != 1 || list[0].Key != "a/b/part-00000.jsonl" || list[0].Size != 4 {
		t.Fatalf("list %+v", list)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Root(), "a"))
	for _, e := range entries {
		if e.Name() != "b" {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestLocalPutIfAbsentHasOneWinner(t *testing.T) {
	ctx := context.Background()
	s, _ := NewLocal(t.TempDir())
	var wg sync.WaitGroup
	results := make([]error, 8)
	for n := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[n] = s.PutIfAbsent(ctx, "_SUCCESS", []byte{byte('0' + n)})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrExists):
			t.Errorf("loser got %v, want ErrExists", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d winners", wins)
	}
}

func TestLocalKeys(t *testing.T) {
	ctx := context.Background()
	s, _ := NewLocal(t.TempDir())
	for _, bad := range []string{"", "/abs", "../up", "a/../../up", `a\b`} {
		if _, err := s.Create(ctx, bad); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	if _, err := s.Open(ctx, "missing"); !errors.Is(err, ErrNotExist) {
		t.Errorf("open missing: %v", err)
	}
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, ErrNotExist) {
		t.Errorf("stat missing: %v", err)
	}
	if err := s.Delete(ctx, "missing"); err != nil {
		t.Errorf("delete missing: %v", err)
	}
	if _, err := Open(ctx, "gs://bucket/x"); err == nil {
		t.Error("a scheme with no backend opened")
	}
}

// List walks only the folder its prefix names, and still returns every key
// that starts with the prefix, including keys in sibling folders whose
// names start with the prefix's last part.
func TestLocalListByPrefix(t *testing.T) {
	ctx := context.Background()
	s, _ := NewLocal(t.TempDir())
	for _, k := range []string{"llm/spent/1.json", "llm/spent/2.json", "llm/spentx/3.json", "llm/cache/ab/x.json", "images/a.jpg", "top.json"} {
		if err := Put(ctx, s, k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"llm/spent/", []string{"llm/spent/1.json", "llm/spent/2.json"}},
		{"llm/spent", []string{"llm/spent/1.json", "llm/spent/2.json", "llm/spentx/3.json"}},
		{"llm/", []string{"llm/cache/ab/x.json", "llm/spent/1.json", "llm/spent/2.json", "llm/spentx/3.json"}},
		{"t", []string{"top.json"}},
		{"missing/", nil},
		{"../", nil},
	} {
		list, err := s.List(ctx, c.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		var got []string
		for _, info := range list {
			got = append(got, info.Key)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("List(%q) = %v, want %v", c.prefix, got, c.want)
		}
	}
}

// Objects are readable by others (a dataset on a shared disk, a preview a
// web server serves), whichever way they were written: not os.CreateTemp's
// 0600.
func TestLocalObjectsAreWorldReadable(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := Put(ctx, s, "parts/part-00000.jsonl.zst", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "_SUCCESS", []byte("y")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"parts/part-00000.jsonl.zst", "_SUCCESS"} {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o644 {
			t.Errorf("%s: mode %v, want -rw-r--r--", key, got)
		}
	}
}
