package preview

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boostgen/boostgen/internal/blob"
)

// screenshotPath is where the page test leaves its screenshot for people to
// look at: $BOOSTGEN_TEST_ARTIFACTS/preview.png, else a fixed temp path.
func screenshotPath() string {
	if d := os.Getenv("BOOSTGEN_TEST_ARTIFACTS"); d != "" {
		return filepath.Join(d, "preview.png")
	}
	return filepath.Join(os.TempDir(), "boostgen-preview-test", "preview.png")
}

// TestPageInChromium opens the page in a real headless Chromium: every
// sampled record renders as a card with its image loaded and both cubes
// drawn, the charts are there, the layer toggles work, and the page logs
// no errors (console, exceptions, failed loads).
func TestPageInChromium(t *testing.T) {
	exe := chromiumPath(t)
	dir, _ := testDataset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := blob.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	out := t.TempDir()
	res, err := Build(ctx, store, Options{N: n, Seed: 1, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cards != n {
		t.Fatalf("page has %d cards, want %d", res.Cards, n)
	}

	c := startChromium(t, exe)
	probs := &pageProblems{}
	session, err := c.openPage(ctx, "file://"+res.Page, 1400, 2000, probs)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Cards, Images, Broken, Charts, MultiView int
		CubeGroups, CubeLines, Points, Conv      int
		EmptyConv                                []string
	}
	err = c.eval(ctx, session, `(async () => {
		const imgs = [...document.images];
		await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
		const cards = [...document.querySelectorAll("article.card")];
		return {
			cards: cards.length,
			images: imgs.length,
			broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
			charts: document.querySelectorAll("#stats svg.chart").length,
			multiView: cards.filter(c => c.querySelectorAll(".views figure").length > 1).length,
			cubeGroups: cards.filter(c => c.querySelectorAll(".cube").length === 2 && [...c.querySelectorAll(".cube")].every(g => g.querySelectorAll("line").length > 0)).length,
			cubeLines: document.querySelectorAll(".cube line").length,
			points: document.querySelectorAll(".pt circle").length,
			conv: document.querySelectorAll("ol.conv li").length,
			emptyConv: cards.filter(c => c.querySelectorAll("ol.conv li .q").length < 10).map(c => c.dataset.id),
		};
	})()`, &got)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("page: %+v", got)
	if got.Cards != n {
		t.Errorf("%d cards rendered, want %d", got.Cards, n)
	}
	if got.Broken != 0 || got.Images < n {
		t.Errorf("%d of %d images did not load", got.Broken, got.Images)
	}
	if got.CubeGroups != n {
		t.Errorf("%d cards show both cubes, want %d", got.CubeGroups, n)
	}
	if got.Points < 3*n {
		t.Errorf("%d points drawn for %d cards", got.Points, n)
	}
	if got.Charts < 6 {
		t.Errorf("%d charts, want 6", got.Charts)
	}
	if got.MultiView == 0 {
		t.Errorf("no multi-view card in the sample")
	}
	if len(got.EmptyConv) > 0 {
		t.Errorf("cards without their conversation: %v", got.EmptyConv)
	}

	// The screenshot shows the top of the page: charts and the first cards.
	shot, err := c.screenshot(ctx, session)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(strings.NewReader(string(shot))); err != nil || cfg.Width != 1400 {
		t.Fatalf("screenshot: %v (%d px wide)", err, cfg.Width)
	}
	path := screenshotPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// And one of the first multi-view card.
	var scrolled bool
	if err := c.eval(ctx, session, `(() => {
		const card = [...document.querySelectorAll("article.card")].find(c => c.querySelectorAll(".views figure").length > 1);
		if (!card) return false;
		window.scrollTo(0, card.getBoundingClientRect().top + window.scrollY - 60);
		return true;
	})()`, &scrolled); err != nil || !scrolled {
		t.Fatalf("scrolling to a multi-view card: %v", err)
	}
	if shot, err = c.screenshot(ctx, session); err != nil {
		t.Fatal(err)
	}
	multi := strings.TrimSuffix(path, ".png") + "-multiview.png"
	if err := os.WriteFile(multi, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", multi)

	// Unticking "3D cubes" hides every wireframe.
	var hidden bool
	err = c.eval(ctx, session, `(() => {
		document.querySelector("input[data-layer=cubes]").click();
		return [...document.querySelectorAll(".lay-cubes")].every(g => getComputedStyle(g).display === "none");
	})()`, &hidden)
	if err != nil {
		t.Fatal(err)
	}
	if !hidden {
		t.Error("unticking 3D cubes left wireframes visible")
	}

	// Problems arrive as events, noted before any later reply: this round
	// trip makes sure that all the page produced so far have been seen.
	var one int
	if err := c.eval(ctx, session, "1", &one); err != nil {
		t.Fatal(err)
	}
	probs.mu.Lock()
	defer probs.mu.Unlock()
	for _, p := range probs.list {
		t.Errorf("page problem: %s", p)
	}
}
