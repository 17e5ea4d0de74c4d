package gen

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/boostgen/boostgen/internal/blob"
)

// ErrIncomplete is returned (wrapped) by Finalize while some parts are not
// committed yet; the message names them and the shards they belong to.
var ErrIncomplete = errors.New("dataset is incomplete")

// ErrFinalizeRace is returned (wrapped) by the Finalize that lost to a
// concurrent one: the dataset is complete, but this call did not commit it.
var ErrFinalizeRace = errors.New("another finalize committed this dataset at the same time")

// FinalizeResult says what Finalize did.
type FinalizeResult struct {
	Manifest *Manifest
	// Already is true when the dataset had been finalized before this call.
	Already bool
}

// Finalize turns the committed parts of an output into a dataset: it checks
// that every part of the run is committed, writes rejects.jsonl, then
// manifest.json and _SUCCESS, both with PutIfAbsent (If-None-Match: * on
// S3). It is idempotent: on a finalized dataset it checks the manifest and
// returns Already. Of two concurrent calls exactly one commits; the other
// gets ErrFinalizeRace. It reads only part manifests, never part files.
func Finalize(ctx context.Context, store blob.Store) (*FinalizeResult, error) {
	rb, err := blob.ReadAll(ctx, store, RunFile)
	if errors.Is(err, blob.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s: no boostgen run has started here", store, RunFile)
	}
	if err != nil {
		return nil, err
	}
	var id runIdentity
	if err := json.Unmarshal(rb, &id); err != nil || id.SchemaVersion != runSchemaVersion {
		return nil, fmt.Errorf("%s/%s: not a %s file", store, RunFile, runSchemaVersion)
	}
	parts, err := readParts(ctx, store, id)
	if err != nil {
		return nil, err
	}
	m, rejects, err := buildManifest(id, parts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", store, err)
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	mb = append(mb, '\n')

	if ok, err := blob.Exists(ctx, store, SuccessFile); err != nil {
		return nil, err
	} else if ok {
		if err := sameManifest(ctx, store, mb); err != nil {
			return nil, err
		}
		return &FinalizeResult{Manifest: m, Already: true}, nil
	}
	if err := blob.Put(ctx, store, RejectsFile, rejects); err != nil {
		return nil, fmt.Errorf("%s: %w", RejectsFile, err)
	}
	if err := store.PutIfAbsent(ctx, ManifestFile, mb); errors.Is(err, blob.ErrExists) {
		// A finalize that died before _SUCCESS, or one running now: the
		// same parts give the same bytes.
		if err := sameManifest(ctx, store, mb); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	// _SUCCESS holds something unique to this call, so that of two
	// concurrent calls exactly one PutIfAbsent succeeds, even on S3, where
	// a retried conditional put that finds its own bytes counts as a success.
	if err := store.PutIfAbsent(ctx, SuccessFile, successMarker(mb)); errors.Is(err, blob.ErrExists) {
		return nil, fmt.Errorf("%s: %w (its %s is the one this call computed)", store, ErrFinalizeRace, ManifestFile)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", SuccessFile, err)
	}
	return &FinalizeResult{Manifest: m}, nil
}

func sameManifest(ctx context.Context, store blob.Store, want []byte) error {
	have, err := blob.ReadAll(ctx, store, ManifestFile)
	if err != nil {
		return fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if !bytes.Equal(have, want) {
		return fmt.Errorf("%s/%s exists but does not match the committed parts; it was not written by this run (rerun with --force-new to start again)", store, ManifestFile)
	}
	return nil
}

func successMarker(manifest []byte) []byte {
	host, _ := os.Hostname()
	var token [16]byte
	rand.Read(token[:])
	sum := sha256.Sum256(manifest)
	b, _ := json.Marshal(map[string]string{
		"manifest_sha256": hex.EncodeToString(sum[:]),
		"finalized_by":    host + " pid " + strconv.Itoa(os.Getpid()),
		"at":              time.Now().UTC().Format(time.RFC3339Nano),
		"token":           hex.EncodeToString(token[:]),
	})
	return append(b, '\n')
}

// readParts returns the part manifests of every part of the run, in order,
// or ErrIncomplete naming what is missing.
func readParts(ctx context.Context, store blob.Store, id runIdentity) ([]*partManifest, error) {
	list, err := store.List(ctx, partsDir)
	if err != nil {
		return nil, err
	}
	parts := make([]*partManifest, id.Parts)
	for _, info := range list {
		pm, err := readPartManifest(ctx, store, info.Key)
		if err != nil {
			return nil, err
		}
		if pm.ConfigSHA256 != id.ConfigSHA256 || pm.Part < 0 || pm.Part >= id.Parts {
			return nil, fmt.Errorf("%s/%s: belongs to another run (config %s, part %d)", store, info.Key, pm.ConfigSHA256, pm.Part)
		}
		parts[pm.Part] = pm
	}
	var missing []int
	for p, pm := range parts {
		if pm == nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: %w: %d of %d parts are not committed: %s%s",
			store, ErrIncomplete, len(missing), id.Parts, listParts(missing), whoseParts(ctx, store, missing))
	}
	return parts, nil
}

func listParts(parts []int) string {
	const most = 20
	var names []string
	for k, p := range parts {
		if k == most {
			names = append(names, fmt.Sprintf("and %d more", len(parts)-most))
			break
		}
		names = append(names, fmt.Sprintf("part-%05d", p))
	}
	return strings.Join(names, ", ")
}

// whoseParts names the shards the missing parts belong to, for each shard
// count seen in the shard notes.
func whoseParts(ctx context.Context, store blob.Store, missing []int) string {
	list, err := store.List(ctx, shardsDir)
	if err != nil {
		return ""
	}
	counts := map[int]bool{}
	for _, info := range list {
		var i, n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(info.Key, shardsDir), "%d-of-%d.json", &i, &n); err == nil && n > 0 {
			counts[n] = true
		}
	}
	if len(counts) == 0 {
		return "; no shard has started (run boostgen run with the same config and --out)"
	}
	var ns []int
	for n := range counts {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	var out []string
	for _, n := range ns {
		owners := map[int]bool{}
		for _, p := range missing {
			owners[p%n] = true
		}
		var names []string
		for i := 0; i < n; i++ {
			if owners[i] {
				state := "not started"
				if ok, _ := blob.Exists(ctx, store, shardNoteKey(Shard{Index: i, Count: n})); ok {
					state = "started, not finished"
				}
				names = append(names, fmt.Sprintf("--shard %d/%d (%s)", i, n, state))
			}
		}
		out = append(out, strings.Join(names, ", "))
	}
	return "; they belong to " + strings.Join(out, "; or with another shard count, ")
}

// buildManifest merges the part manifests into the dataset manifest and
// the bytes of rejects.jsonl.
func buildManifest(id runIdentity, parts []*partManifest) (*Manifest, []byte, error) {
	m := &Manifest{
		SchemaVersion: ManifestSchemaVersion, Generator: id.Generator, ConfigSHA256: id.ConfigSHA256,
		Seed: id.Seed, RecordSchema: RecordSchemaVersion, ItemsPerPart: id.ItemsPerPart,
		Shards: []ShardInfo{},
		Totals: Totals{Items: id.Items, RecordsByViews: map[string]int{}},
	}
	var rejects bytes.Buffer
	byReason := map[string]int{}
	images := map[string]bool{}
	for _, pm := range parts {
		if n := pm.ItemEnd - pm.ItemStart; pm.Records+len(pm.Rejects) != n {
			return nil, nil, fmt.Errorf("%s: %d records and %d rejects for %d items", partManifestKey(pm.Part), pm.Records, len(pm.Rejects), n)
		}
		if pm.Records > 0 {
			m.Shards = append(m.Shards, ShardInfo{
				Path: pm.Path, Records: pm.Records, Bytes: pm.Bytes, SHA256: pm.SHA256,
				FirstID: pm.FirstID, LastID: pm.LastID, Part: pm.Part, ItemStart: pm.ItemStart, ItemEnd: pm.ItemEnd,
			})
		}
		m.Totals.Records += pm.Records
		m.Totals.Bytes += pm.Bytes
		for v, n := range pm.RecordsByViews {
			m.Totals.RecordsByViews[v] += n
		}
		for _, img := range pm.Images {
			images[img] = true
		}
		for _, rj := range pm.Rejects {
			b, _ := json.Marshal(rj)
			rejects.Write(append(b, '\n'))
			byReason[rj.Code]++
			m.Totals.Rejects++
		}
	}
	m.Totals.Images = len(images)
	sum := sha256.Sum256(rejects.Bytes())
	m.Rejects = &RejectsInfo{Path: RejectsFile, Count: m.Totals.Rejects, SHA256: hex.EncodeToString(sum[:]), ByReason: byReason}
	return m, rejects.Bytes(), nil
}
