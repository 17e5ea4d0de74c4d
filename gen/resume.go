package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/version"
)

// The bookkeeping files of an output, beside the dataset itself. A run's
// identity (_run.json) is written once by whichever process starts first;
// each committed part has an immutable part manifest under _parts/; each
// shard process leaves a note under _shards/ so that finalize can say who
// is missing. None of them is part of the dataset a reader sees.
const (
	RunFile     = "_run.json"
	SuccessFile = "_SUCCESS"
	partsDir    = "_parts/"
	shardsDir   = "_shards/"

	runSchemaVersion  = "boostgen.run/v1"
	partSchemaVersion = "boostgen.part/v1"
)

// runIdentity is _run.json: everything that decides the bytes of the
// output. A rerun, a resumed run or another shard must match it exactly.
type runIdentity struct {
	SchemaVersion string `json:"schema_version"`
	Generator     string `json:"generator"`
	ConfigSHA256  string `json:"config_sha256"`
	Seed          uint64 `json:"seed"`
	Compression   string `json:"compression"`
	Items         int    `json:"items"`
	ItemsPerPart  int    `json:"items_per_part"`
	Parts         int    `json:"parts"`
}

func newRunIdentity(cfg *Config, configHash string, items int) runIdentity {
	k := cfg.Output.ItemsPerPart
	return runIdentity{
		SchemaVersion: runSchemaVersion, Generator: "boostgen " + version.Version,
		ConfigSHA256: configHash, Seed: cfg.Seed, Compression: cfg.Output.Compression,
		Items: items, ItemsPerPart: k, Parts: (items + k - 1) / k,
	}
}

// differences names the fields in which a differs from b, for a refusal
// that says what changed.
func (a runIdentity) differences(b runIdentity) []string {
	var d []string
	add := func(name string, x, y any) {
		if x != y {
			d = append(d, fmt.Sprintf("%s %v (output has %v)", name, x, y))
		}
	}
	add("generator", a.Generator, b.Generator)
	add("config sha256", a.ConfigSHA256, b.ConfigSHA256)
	add("seed", a.Seed, b.Seed)
	add("items (source size or --limit)", a.Items, b.Items)
	add("output.items_per_part", a.ItemsPerPart, b.ItemsPerPart)
	add("output.compression", a.Compression, b.Compression)
	return d
}

// partManifest is _parts/part-NNNNN.json, written once the part's file is
// complete: its existence is what makes the part committed. It carries
// everything finalize needs, so that finalize never reads a part file.
type partManifest struct {
	SchemaVersion  string         `json:"schema_version"`
	ConfigSHA256   string         `json:"config_sha256"`
	Part           int            `json:"part"`
	ItemStart      int            `json:"item_start"` // first item index
	ItemEnd        int            `json:"item_end"`   // one past the last
	Path           string         `json:"path,omitempty"`
	Records        int            `json:"records"`
	Bytes          int64          `json:"bytes"`
	SHA256         string         `json:"sha256,omitempty"`
	FirstID        string         `json:"first_id,omitempty"`
	LastID         string         `json:"last_id,omitempty"`
	RecordsByViews map[string]int `json:"records_by_views,omitempty"`
	Images         []string       `json:"images"`
	Rejects        []Reject       `json:"rejects"`
}

func partManifestKey(part int) string { return fmt.Sprintf("%spart-%05d.json", partsDir, part) }

// shardNote is _shards/I-of-N.json.
type shardNote struct {
	Shard int   `json:"shard"`
	Of    int   `json:"of"`
	Parts []int `json:"parts"`
}

func shardNoteKey(s Shard) string { return fmt.Sprintf("%s%d-of-%d.json", shardsDir, s.Index, s.Count) }

// ErrConfigChanged is returned (wrapped) when an output was started with a
// different configuration: resuming it would mix two datasets.
var ErrConfigChanged = errors.New("output was started with a different configuration")

// prepareOutput makes store ready for this run and returns the parts that
// are already committed. A first run records its identity; a rerun must
// match it (or, with forceNew, the old run is deleted first).
func prepareOutput(ctx context.Context, store blob.Store, id runIdentity, forceNew bool, log *slog.Logger) (map[int]*partManifest, error) {
	want, _ := json.MarshalIndent(id, "", "  ")
	want = append(want, '\n')
	if forceNew {
		if err := clearOutput(ctx, store, log); err != nil {
			return nil, err
		}
	} else if err := checkIdentity(ctx, store, id, want); err != nil {
		return nil, err
	}
	if err := store.PutIfAbsent(ctx, RunFile, want); err != nil && !errors.Is(err, blob.ErrExists) {
		return nil, fmt.Errorf("%s: %w", RunFile, err)
	} else if err != nil {
		// Another shard got there first: it must have written the same.
		if have, rerr := blob.ReadAll(ctx, store, RunFile); rerr != nil || !bytes.Equal(have, want) {
			return nil, fmt.Errorf("%s: %w: another process started this output with another config at the same time", store, ErrConfigChanged)
		}
	}
	return committedParts(ctx, store, id, log)
}

// checkIdentity refuses an output started by another configuration, or a
// dataset boostgen did not write.
func checkIdentity(ctx context.Context, store blob.Store, id runIdentity, want []byte) error {
	have, err := blob.ReadAll(ctx, store, RunFile)
	if errors.Is(err, blob.ErrNotExist) {
		// A manifest without _run.json is not ours to resume.
		if ok, err := blob.Exists(ctx, store, ManifestFile); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%s holds a dataset (%s) that boostgen cannot resume (no %s); choose another --out or pass --force-new to replace it", store, ManifestFile, RunFile)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", RunFile, err)
	}
	if bytes.Equal(have, want) {
		return nil
	}
	var old runIdentity
	if err := json.Unmarshal(have, &old); err != nil {
		return fmt.Errorf("%s/%s: %v", store, RunFile, err)
	}
	diff := id.differences(old)
	if len(diff) == 0 {
		diff = []string{"format " + old.SchemaVersion}
	}
	return fmt.Errorf("%s: %w: %s; rerun with the same config, choose another --out, or pass --force-new to delete the old output and start again",
		store, ErrConfigChanged, strings.Join(diff, "; "))
}

// clearOutput deletes a previous run: the completion markers first, so
// that no reader takes the output for finished while the rest goes.
// Images stay: they are content-addressed, and the new run reuses those it
// needs.
func clearOutput(ctx context.Context, store blob.Store, log *slog.Logger) error {
	for _, key := range []string{SuccessFile, ManifestFile, RunFile} {
		if err := store.Delete(ctx, key); err != nil {
			return err
		}
	}
	list, err := store.List(ctx, "")
	if err != nil {
		return err
	}
	n := 0
	for _, info := range list {
		k := info.Key
		if strings.HasPrefix(k, partsDir) || strings.HasPrefix(k, shardsDir) || strings.HasPrefix(k, "part-") || k == RejectsFile {
			if err := store.Delete(ctx, k); err != nil {
				return err
			}
			n++
		}
	}
	log.Info("--force-new: deleted the previous run", "out", store.String(), "files", n)
	return nil
}

// committedParts reads the part manifests. A part whose file does not have
// the size its manifest says (deleted, or replaced by hand) is not counted
// as committed, so that it is written again.
func committedParts(ctx context.Context, store blob.Store, id runIdentity, log *slog.Logger) (map[int]*partManifest, error) {
	list, err := store.List(ctx, partsDir)
	if err != nil {
		return nil, err
	}
	done := map[int]*partManifest{}
	for _, info := range list {
		pm, err := readPartManifest(ctx, store, info.Key)
		if err != nil {
			return nil, err
		}
		if pm.ConfigSHA256 != id.ConfigSHA256 || pm.Part < 0 || pm.Part >= id.Parts {
			return nil, fmt.Errorf("%s/%s: belongs to another run (config %s, part %d); pass --force-new to start again", store, info.Key, pm.ConfigSHA256, pm.Part)
		}
		if pm.Path != "" {
			st, err := store.Stat(ctx, pm.Path)
			if err != nil && !errors.Is(err, blob.ErrNotExist) {
				return nil, err
			}
			if err != nil || st.Size != pm.Bytes {
				log.Warn("part file missing or changed; writing the part again", "part", pm.Path)
				if err := store.Delete(ctx, info.Key); err != nil {
					return nil, err
				}
				continue
			}
		}
		done[pm.Part] = pm
	}
	return done, nil
}

func readPartManifest(ctx context.Context, store blob.Store, key string) (*partManifest, error) {
	b, err := blob.ReadAll(ctx, store, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	var pm partManifest
	if err := json.Unmarshal(b, &pm); err != nil {
		return nil, fmt.Errorf("%s/%s: %v", store, key, err)
	}
	if pm.SchemaVersion != partSchemaVersion || partManifestKey(pm.Part) != key {
		return nil, fmt.Errorf("%s/%s: not a %s part manifest for this key", store, key, partSchemaVersion)
	}
	return &pm, nil
}

// commitPart writes a part's manifest. It is written once: finding an
// identical one is fine (a retry), a different one means two processes
// wrote the same part, which shards never do.
func commitPart(ctx context.Context, store blob.Store, pm *partManifest) error {
	b, err := json.Marshal(pm)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	key := partManifestKey(pm.Part)
	err = store.PutIfAbsent(ctx, key, b)
	if errors.Is(err, blob.ErrExists) {
		if have, rerr := blob.ReadAll(ctx, store, key); rerr == nil && bytes.Equal(have, b) {
			return nil
		}
		return fmt.Errorf("%s: committed by another process with different content (two processes with overlapping --shard?)", key)
	}
	return err
}
