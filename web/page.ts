/**
 * The page: a generation view (server or in-browser WebGPU) and a training-curves view. It has
 * no inline script or style, so the CSP can allow only 'self'; the behaviour is /app.js (the
 * browser bundle) and the look is /app.css.
 * @module
 */

/** HTML of the page. */
export const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>blockdiff</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body>
<header><h1>blockdiff</h1>
<nav><button type="button" id="tab-generate" class="tab on">Generate</button>
<button type="button" id="tab-curves" class="tab">Training curves</button></nav>
<span id="adapter" class="muted"></span></header>

<section id="view-generate">
<form id="gen-form">
<div class="row">
<label>Model <select id="model" name="model"></select></label>
<label>Run on <select id="mode" name="mode">
<option value="server">server GPU</option><option value="browser">this browser (WebGPU)</option>
</select></label>
</div>
<label class="wide">Prompt <textarea id="prompt" name="prompt" rows="3" maxlength="4096"></textarea></label>
<div class="row">
<label>Length <input id="length" name="length" type="number" min="2" max="4096" value="64"></label>
<label>Steps / block <input id="steps" name="steps" type="number" min="1" max="1000" placeholder="block size"></label>
<label>Sampler <select id="sampler" name="sampler">
<option value="first-hitting">first-hitting</option><option value="ancestral">ancestral</option>
<option value="confidence">confidence</option></select></label>
<label>Block size <select id="blockSize" name="blockSize">
<option value="">model's</option><option value="4">4</option><option value="8">8</option>
<option value="16">16</option><option value="adaptive">adaptive (4/8/16)</option></select></label>
</div>
<div class="row">
<label>Top-p <input id="topP" name="topP" type="number" min="0.01" max="1" step="0.01" value="0.9"></label>
<label>Temperature <input id="temperature" name="temperature" type="number" min="0" max="100" step="0.1" value="1"></label>
<label>Seed <input id="seed" name="seed" type="number" min="0" value="0"></label>
<label><input id="stopAtEos" name="stopAtEos" type="checkbox" checked> stop at EOS</label>
<label><input id="entropyOn" name="entropyOn" type="checkbox"> entropy stop
<input id="entropyWindow" type="number" min="1" max="4096" value="64" title="window"
><input id="entropyThreshold" type="number" min="0" max="20" step="0.1" value="2" title="threshold (nats)"></label>
</div>
<div class="row">
<button type="submit" id="generate">Generate</button>
<button type="button" id="cancel" disabled>Cancel</button>
<span id="status" class="muted">idle</span>
<span class="stat">NFE <b id="nfe">0</b></span>
<span class="stat">tokens/s <b id="tps">0</b></span>
</div>
</form>
<pre id="output"><span id="committed"></span><span id="block"></span></pre>
<div id="final" hidden></div>
</section>

<section id="view-curves" hidden>
<div class="row"><span>Runs:</span><span id="runs"></span>
<label>Metric <select id="metric"></select></label></div>
<div id="plot-box"><img id="plot" alt="training curves"></div>
<table id="evals"></table>
</section>
</body></html>
`;

/** The page's style sheet (/app.css). */
export const CSS =
  `body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 1rem auto;
  padding: 0 1rem; color: #222; }
header { display: flex; gap: 1.5rem; align-items: baseline; }
h1 { font-size: 1.4rem; margin: 0; }
.tab { border: 0; background: none; padding: .2rem .5rem; cursor: pointer; font: inherit; }
.tab.on { border-bottom: 2px solid #1f77b4; }
.row { display: flex; flex-wrap: wrap; gap: .8rem; align-items: center; margin: .5rem 0; }
label.wide { display: block; } textarea { width: 100%; font: 14px ui-monospace, monospace; }
input[type=number] { width: 5.5rem; }
.muted { color: #777; } .stat b { font-variant-numeric: tabular-nums; }
pre#output { background: #f6f6f6; padding: .8rem; min-height: 6rem; white-space: pre-wrap;
  word-break: break-word; font: 14px/1.6 ui-monospace, monospace; }
#block { background: #fff3c4; }
#block .mask { color: #999; }
#final { border-left: 3px solid #2ca02c; padding: .3rem .8rem; white-space: pre-wrap;
  word-break: break-word; }
#final.error { border-color: #d62728; }
#plot { max-width: 100%; }
table { border-collapse: collapse; margin-top: 1rem; } td, th { padding: .2rem .6rem; border-bottom: 1px solid #ddd; }
`;
