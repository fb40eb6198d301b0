/**
 * The pages' one stylesheet: system fonts, dark text on white, and emphasis that survives grayscale
 * (weight, borders and lightness, never hue alone); focus rings stay visible for keyboard use.
 */
export const STYLE = `
:root{color-scheme:light;--ink:#111;--muted:#555;--rule:#bbb;--hit:#0b5d1e;--miss:#8a1c1c}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#fff}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.5rem;margin:.2em 0 .6em}h2{font-size:1.2rem;margin:1.6em 0 .5em;border-bottom:1px solid var(--rule)}
h3{font-size:1.05rem;margin:1em 0 .4em}
table{border-collapse:collapse;margin:.4em 0 1em}caption{text-align:left;font-weight:600;padding:.2em 0}
th,td{border:1px solid var(--rule);padding:3px 8px;vertical-align:top}th{background:#eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:.4em 0 1em}
dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}
.hint{color:var(--muted);font-size:.9em}
button{font:inherit;cursor:pointer;color:var(--ink);background:#eee;border:1px solid #767676;border-radius:3px}
button:disabled{color:var(--muted);cursor:default}
:focus-visible{outline:3px solid #000;outline-offset:2px}
.confusion-wrap{overflow:auto;max-width:100%;max-height:80vh;border:1px solid var(--rule)}
table.confusion{margin:0}table.confusion td{padding:0;border-color:#ddd}
table.confusion th{font-size:.8em;white-space:nowrap;position:sticky;top:0;z-index:1}
table.confusion tbody th{position:sticky;left:0;top:auto}
table.confusion button{display:block;width:100%;min-width:2.4em;border:0;border-radius:0;padding:4px 2px;text-align:center;font-variant-numeric:tabular-nums}
table.confusion td.diag button{box-shadow:inset 0 0 0 2px currentColor;font-weight:700}
table.confusion button[aria-pressed="true"]{outline:3px dashed currentColor;outline-offset:-3px}
table.confusion button:focus-visible{outline:3px solid currentColor;outline-offset:-3px;text-decoration:underline}
.items{list-style:none;padding:0;margin:0}
.items>li{border:1px solid var(--rule);border-radius:4px;padding:8px 10px;margin:6px 0}
.items .head{display:flex;flex-wrap:wrap;gap:4px 14px;align-items:baseline}
.items .id{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600;overflow-wrap:anywhere}
.ok{color:var(--hit);font-weight:700}.bad{color:var(--miss);font-weight:700}
.ok::before{content:"\\2713  "}.bad::before{content:"\\2717  "}
ol.top{margin:.3em 0 0;padding-left:2.2em}ol.top li.correct{font-weight:700;text-decoration:underline}
audio{display:block;height:32px;margin:4px 0;max-width:100%}
button.play{margin:0 0 0 8px;padding:0 8px}
.pager{display:flex;gap:10px;align-items:center;margin:.4em 0}
.missing{color:var(--muted);font-style:italic}
svg{max-width:100%;height:auto}
pre{background:#f4f4f4;border:1px solid var(--rule);padding:8px;overflow:auto;max-height:40em}
`
