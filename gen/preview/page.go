package preview

import (
	"html/template"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/stats"
)

type pageView struct {
	Dataset  string
	Manifest *gen.Manifest
	Stats    *stats.Stats
	Charts   []chart
	Cards    []cardView
	Seed     uint64
	N        int
}

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// The page is one file with inline CSS and a few lines of JavaScript (layer
// toggles); images sit beside it under images/, PNG cards under cards/.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>boostgen preview · {{.Dataset}}</title>
<link rel="icon" href="data:,">
<style>
:root { --a: #ffb000; --b: #00c8ff; --ink: #1d2430; --muted: #667085; --line: #e4e7ec; --bg: #f4f5f7; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
header { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid var(--line); padding: 10px 24px; display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: center; }
header h1 { font-size: 17px; margin: 0; }
header .sum { color: var(--muted); }
header .toggles { margin-left: auto; display: flex; gap: 14px; }
header label { cursor: pointer; user-select: none; }
main { padding: 16px 24px 40px; max-width: 1500px; margin: 0 auto; }
h2 { font-size: 15px; margin: 18px 0 10px; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 12px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.panel h3 { font-size: 13px; margin: 0; }
.panel .note { color: var(--muted); font-size: 12px; margin-bottom: 6px; }
.chart { width: 100%; max-width: 620px; height: auto; display: block; }
.chart text { font-size: 11px; fill: var(--ink); }
.chart .axis { fill: var(--muted); }
.chart .warn { fill: #c0392b; font-weight: 600; }
.chart .mid { stroke: #333; stroke-dasharray: 3 3; }
.chart .base { stroke: #98a2b3; }
.empty { color: var(--muted); }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 14px 0; padding: 12px 14px; display: grid; grid-template-columns: minmax(320px, 640px) minmax(320px, 1fr); gap: 14px; }
.card > .head { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 6px; align-items: baseline; }
.card .id { font: 600 14px ui-monospace, "DejaVu Sans Mono", monospace; margin-right: 6px; }
.card .where { color: var(--muted); font-size: 12px; margin-left: auto; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #eef0f3; color: #344054; white-space: nowrap; }
.badge.good { background: #dcf5e7; color: #146c43; }
.badge.bad { background: #fde2dd; color: #9f2a14; }
.badge.info { background: #e6eefc; color: #1d4ed8; }
.figure { position: relative; width: 100%; line-height: 0; }
.figure img { width: 100%; height: auto; display: block; border-radius: 4px; }
.figure svg.ov { position: absolute; inset: 0; width: 100%; height: 100%; overflow: hidden; }
.ov line, .ov rect, .ov circle { vector-effect: non-scaling-stroke; }
.ov .box { fill: none; stroke-width: 1.5; stroke-dasharray: 5 3; }
.ov .cube line { stroke-width: 2.2; }
.ov g.A, .ov rect.A { stroke: var(--a); } .ov g.B, .ov rect.B { stroke: var(--b); }
.ov text { font-family: system-ui, "DejaVu Sans", sans-serif; font-weight: 600; paint-order: stroke; stroke: rgba(0,0,0,.8); stroke-width: 3px; stroke-linejoin: round; }
.ov text.A { fill: var(--a); } .ov text.B { fill: var(--b); }
.ov .pt circle { stroke: #fff; stroke-width: 1.5; }
.ov .pt.A circle { fill: var(--a); } .ov .pt.B circle { fill: var(--b); }
.ov .pt text { fill: #fff; }
.ov .ax line { stroke-width: 2.5; }
.ov line.ax-x { stroke: #ff4d4d; } .ov line.ax-y { stroke: #3ddc84; } .ov line.ax-z { stroke: #4d8dff; }
.ov text.ax-x { fill: #ff4d4d; } .ov text.ax-y { fill: #3ddc84; } .ov text.ax-z { fill: #4d8dff; }
body.hide-points .lay-points, body.hide-boxes .lay-boxes, body.hide-cubes .lay-cubes, body.hide-axes .lay-axes, body.hide-labels .lay-labels { display: none; }
.views { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
.views figure { margin: 0; width: calc(25% - 5px); min-width: 110px; }
.views img { width: 100%; display: block; border-radius: 3px; border: 2px solid transparent; }
.views figure.anchor img { border-color: var(--a); }
.views figcaption { font-size: 11px; color: var(--muted); }
table.objects { border-collapse: collapse; width: 100%; margin-top: 8px; font-size: 12px; }
table.objects th, table.objects td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
table.objects td.name { white-space: normal; }
.ref { display: inline-block; width: 18px; height: 18px; line-height: 18px; border-radius: 50%; text-align: center; font-weight: 700; font-size: 11px; color: #111; }
.ref.A { background: var(--a); } .ref.B { background: var(--b); }
details.skipped { font-size: 12px; color: var(--muted); margin-top: 6px; }
.problems { color: #9f2a14; font-size: 12px; }
ol.conv { list-style: none; margin: 0; padding: 0; }
ol.conv li { padding: 6px 0; border-bottom: 1px solid var(--line); }
ol.conv li:last-child { border-bottom: 0; }
.turn-head { display: flex; gap: 6px; align-items: center; font-size: 11px; color: var(--muted); }
.lvl { padding: 0 6px; border-radius: 3px; color: #fff; font-weight: 600; text-transform: uppercase; letter-spacing: .03em; font-size: 10px; }
.lvl.pixel { background: #5b8def; } .lvl.object { background: #e0a100; } .lvl.scene { background: #2a9d8f; } .lvl.caption { background: #9b6dd6; } .lvl.other { background: #98a2b3; }
.q { font-weight: 600; margin-top: 2px; }
.q .img { font: 11px ui-monospace, monospace; background: #eef0f3; border-radius: 3px; padding: 0 4px; margin-right: 4px; color: var(--muted); }
.a { color: #344054; }
.truth { font: 11px ui-monospace, "DejaVu Sans Mono", monospace; color: var(--muted); }
.verdict { font-weight: 700; }
.verdict.true { color: #146c43; } .verdict.false { color: #9f2a14; }
li.missing { color: var(--muted); font-style: italic; }
.legend { font-size: 12px; color: var(--muted); margin-top: 6px; line-height: 1.6; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; vertical-align: -1px; margin: 0 3px 0 8px; }
a { color: #1d4ed8; }
</style>
</head>
<body>
<header>
  <h1>boostgen preview</h1>
  <span class="sum">{{.Dataset}} · {{.Stats.Records}} records from {{.Stats.Items}} items · {{.Stats.Rejects}} rejected · showing {{len .Cards}} (seed {{.Seed}})</span>
  <span class="toggles">
    <label><input type="checkbox" data-layer="points" checked> points</label>
    <label><input type="checkbox" data-layer="boxes" checked> 2D boxes</label>
    <label><input type="checkbox" data-layer="cubes" checked> 3D cubes</label>
    <label><input type="checkbox" data-layer="axes" checked> axes</label>
    <label><input type="checkbox" data-layer="labels" checked> labels</label>
  </span>
</header>
<main>
<h2>Dataset statistics</h2>
<section class="stats" id="stats">
{{range .Charts}}<div class="panel"><h3>{{.Title}}</h3><div class="note">{{.Note}}</div>{{.SVG}}</div>
{{end}}</section>
<div class="legend">Overlays on the anchor view:<span class="sw" style="background:var(--a)"></span>object A<span class="sw" style="background:var(--b)"></span>object B — dashed: 2D box; solid: the 3D cube projected; dots: stated points.
Axes of the canonical frame<span class="sw" style="background:#ff4d4d"></span>x (right)<span class="sw" style="background:#3ddc84"></span>y (forward)<span class="sw" style="background:#4d8dff"></span>z (up), drawn at a floor point in front of the camera.</div>
<h2>Records</h2>
{{range .Cards}}
<article class="card" id="rec-{{.ID}}" data-id="{{.ID}}">
  <div class="head">
    <span class="id">{{.ID}}</span>
    {{range .Badges}}<span class="badge {{.Class}}"{{if .Title}} title="{{.Title}}"{{end}}>{{.Text}}</span>{{end}}
    <span class="where">{{.Where}}{{if .PNG}} · <a href="{{.PNG}}">PNG card</a>{{end}}</span>
  </div>
  <div class="visual">
    <div class="figure">
      <img src="{{.Anchor.Src}}" width="{{.Ov.W}}" height="{{.Ov.H}}" alt="{{.ID}} {{.Anchor.Label}}">
      {{with .Ov}}<svg class="ov" viewBox="0 0 {{.W}} {{.H}}" preserveAspectRatio="none" font-size="{{.Font}}">
        <g class="lay-axes ax">{{range .Axes}}<line class="ax-{{.Name}}" x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/><text class="ax-{{.Name}} lay-labels" x="{{.LX}}" y="{{.LY}}">{{.Name}}</text>{{end}}</g>
        <g class="lay-boxes">{{range .Objects}}<rect class="box {{.Ref}}" x="{{.BX}}" y="{{.BY}}" width="{{.BW}}" height="{{.BH}}"/>{{end}}</g>
        <g class="lay-cubes">{{range .Objects}}<g class="cube {{.Ref}}" data-ref="{{.Ref}}">{{range .Edges}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/>{{end}}</g>{{end}}</g>
        <g class="lay-labels">{{range .Objects}}<text class="{{.Ref}}" x="{{.TX}}" y="{{.TY}}">{{.Ref}} · {{.Name}}</text>{{end}}</g>
        <g class="lay-points">{{$r := .Radius}}{{range .Points}}<g class="pt {{.Object}}"><title>{{.Title}}</title><circle cx="{{.X}}" cy="{{.Y}}" r="{{$r}}"/><text class="lay-labels" x="{{.LX}}" y="{{.LY}}">{{.Name}}</text></g>{{end}}</g>
      </svg>{{end}}
    </div>
    {{if .Views}}<div class="views">{{range .Views}}<figure{{if .Anchor}} class="anchor"{{end}}><a href="{{.Src}}"><img src="{{.Src}}" alt="{{.Label}}"></a><figcaption>{{.Label}}{{if .Anchor}} · anchor{{end}}</figcaption></figure>{{end}}</div>{{end}}
    <table class="objects"><tr><th></th><th>name</th><th>cube center (m)</th><th>size (m)</th><th>yaw</th><th>points</th><th>occluded</th></tr>
    {{range .Objects}}<tr><td><span class="ref {{.Ref}}">{{.Ref}}</span></td><td class="name">{{.Name}}{{if ne .Name .Label}} ({{.Label}}){{end}}</td><td>{{.Center}}</td><td>{{.Size}}</td><td>{{.Yaw}}</td><td>{{.Points}}</td><td>{{.Occluded}}</td></tr>{{end}}
    </table>
    {{if .Skipped}}<details class="skipped"><summary>{{len .Skipped}} {{if eq (len .Skipped) 1}}object{{else}}objects{{end}} not asked about</summary><ul>{{range .Skipped}}<li>#{{.ID}} {{.Label}}: {{.Reason}}</li>{{end}}</ul></details>{{end}}
    {{if .Problems}}<div class="problems">{{range .Problems}}<div>{{.}}</div>{{end}}</div>{{end}}
  </div>
  <ol class="conv">
  {{range .Turns}}{{if .Missing}}<li class="missing"><div class="turn-head"><span class="lvl {{.Level}}">{{.Level}}</span>{{.Kind}}</div>{{.Truth}}</li>
  {{else}}<li><div class="turn-head"><b>Q{{.N}}</b><span class="lvl {{.Level}}">{{.Level}}</span>{{.Kind}}{{if .Verdict}} · <span class="verdict {{.Verdict}}">{{.Verdict}}</span>{{end}}</div>
    <div class="q">{{if .Images}}<span class="img">&lt;image&gt;×{{.Images}}</span>{{end}}{{.Q}}</div>
    <div class="a">{{.A}}</div>{{if .Truth}}<div class="truth">{{.Truth}}</div>{{end}}</li>
  {{end}}{{end}}
  </ol>
</article>
{{end}}
</main>
<script>
"use strict";
document.querySelectorAll("input[data-layer]").forEach(function (box) {
  box.addEventListener("change", function () {
    document.body.classList.toggle("hide-" + box.dataset.layer, !box.checked);
  });
});
</script>
</body>
</html>
`
