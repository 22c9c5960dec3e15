/**
 * The status page: shows the adapter the server runs on, read from /api/info.
 * @module
 */

/** HTML of the page (no external resources, so it works offline and under strict CSP). */
export const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>blockdiff</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
code, pre { font: 13px ui-monospace, monospace; }
pre { background: #f4f4f4; padding: .8rem; overflow-x: auto; }
</style></head>
<body>
<h1>blockdiff</h1>
<p>Block diffusion language models on WebGPU. This server runs on:</p>
<pre id="info">loading…</pre>
<script type="module">
const r = await fetch("/api/info");
document.getElementById("info").textContent = JSON.stringify(await r.json(), null, 2);
</script>
</body></html>
`;
