"""The report's stylesheet, inlined into the page (system fonts only: nothing is fetched)."""

CSS = """
:root{--bg:#f4f5f7;--card:#fff;--ink:#1d2330;--muted:#667085;--line:#e4e7ec;--kept:#3b6fd8;--rej:#e26d5a;
--pass:#12805c;--pass-bg:#e3f5ec;--warn:#b54708;--warn-bg:#fef0c7;--fail:#b42318;--fail-bg:#fee4e2;--na:#98a2b3}
*{box-sizing:border-box}
html{font-size:14px}
body{margin:0;background:var(--bg);color:var(--ink);
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;line-height:1.45}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.86rem}
header.top{background:#17202e;color:#fff;padding:22px 0 20px}
.wrap{max-width:1200px;margin:0 auto;padding:0 24px}
header.top .wrap{display:flex;align-items:center;justify-content:space-between;gap:24px}
header.top h1{margin:0;font-size:1.45rem;font-weight:650;letter-spacing:-.01em}
header.top .sub{color:#aab4c3;margin-top:4px;font-size:.9rem}
header.top .sub span+span:before{content:"·";margin:0 8px;color:#667085}
.badge{display:inline-flex;align-items:center;gap:8px;padding:8px 16px;border-radius:999px;font-weight:700;
letter-spacing:.04em;font-size:.95rem;white-space:nowrap}
.badge:before{content:"";width:10px;height:10px;border-radius:50%;background:currentColor}
.badge.pass{background:var(--pass-bg);color:var(--pass)}.badge.warn{background:var(--warn-bg);color:var(--warn)}
.badge.fail{background:var(--fail-bg);color:var(--fail)}.badge.skipped{background:#eaecf0;color:#475467}
.status{text-align:right}.status .why{color:#aab4c3;font-size:.85rem;margin-top:6px}
nav.toc{background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
nav.toc .wrap{display:flex;gap:18px;overflow-x:auto;padding-top:9px;padding-bottom:9px}
nav.toc a{color:var(--muted);text-decoration:none;font-size:.88rem;white-space:nowrap}
nav.toc a:hover{color:var(--ink)}
main{padding:20px 0 40px}
section{margin-top:18px}
h2{font-size:1.05rem;margin:0 0 12px;font-weight:650}
h2 small{color:var(--muted);font-weight:400;font-size:.85rem;margin-left:8px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;
box-shadow:0 1px 2px rgba(16,24,40,.04)}
.alert{border-radius:10px;padding:14px 18px;margin-top:18px;border:1px solid}
.alert.fail{background:var(--fail-bg);border-color:#fecdca;color:#7a271a}
.alert.warn{background:var(--warn-bg);border-color:#fedf89;color:#7a2e0e}
.alert b{display:block;margin-bottom:6px}.alert ul{margin:0;padding-left:20px}.alert li{margin:3px 0}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:12px}
.kpi{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.kpi .label{color:var(--muted);font-size:.78rem;text-transform:uppercase;letter-spacing:.05em}
.kpi .value{font-size:1.65rem;font-weight:700;margin-top:2px;letter-spacing:-.02em}
.kpi .note{color:var(--muted);font-size:.82rem}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.grid3{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}
table{width:100%;border-collapse:collapse}
th{text-align:left;font-size:.75rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);
font-weight:600;padding:6px 8px;border-bottom:1px solid var(--line)}
td{padding:7px 8px;border-bottom:1px solid #f0f1f3;vertical-align:middle}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:last-child td{border-bottom:none}
.funnel td{padding:9px 8px}
.funnel .stage{font-weight:600;white-space:nowrap}
.bar{position:relative;height:14px;background:#f2f4f7;border-radius:4px;overflow:hidden;min-width:120px;display:flex}
.bar i{display:block;height:100%}.bar i.k{background:var(--kept)}.bar i.r{background:var(--rej);opacity:.85}
.fcell{display:grid;grid-template-columns:1fr auto;gap:10px;align-items:center}
.fnum{font-variant-numeric:tabular-nums;white-space:nowrap;text-align:right;min-width:150px}
.fnum .drop{color:var(--fail);font-size:.82rem;margin-left:6px}
.fnum .drop.zero{color:var(--na)}
.legend{display:flex;gap:16px;color:var(--muted);font-size:.82rem;margin-top:10px;flex-wrap:wrap}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.chip{display:inline-block;padding:1px 8px;border-radius:999px;font-size:.78rem;font-weight:600;
background:#eef2f6;color:#344054;white-space:nowrap}
.minibar{height:8px;background:#f2f4f7;border-radius:4px;overflow:hidden;min-width:80px}
.minibar i{display:block;height:100%;background:var(--rej)}
.chart{width:100%;height:auto;display:block}
.chart .ax{font-size:10.5px;fill:#667085}
.chart .thr{font-size:10.5px;fill:#b42318;font-weight:600}
.chart .cut{fill:#b42318;opacity:.06}
.hist h3{font-size:.92rem;margin:0;font-weight:600}.hist .meta{color:var(--muted);font-size:.8rem;margin:2px 0 6px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sig{min-width:0}.sig h3{font-size:.92rem;margin:0;font-weight:600;overflow-wrap:anywhere}
.sig .meta{color:var(--muted);font-size:.8rem;margin:2px 0 6px}
.langbar{display:flex;height:22px;border-radius:6px;overflow:hidden;margin:4px 0 12px}
.langbar i{display:block;height:100%}
.dot{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:8px;vertical-align:-1px}
.pill{display:inline-block;min-width:46px;text-align:center;padding:2px 8px;border-radius:999px;font-size:.75rem;
font-weight:700;letter-spacing:.03em}
.pill.pass{background:var(--pass-bg);color:var(--pass)}.pill.fail{background:var(--fail-bg);color:var(--fail)}
.pill.na{background:#f2f4f7;color:var(--na)}
tr.failed td{background:#fff5f4}
tr.na td{color:var(--na)}
.exp .type{color:var(--muted);font-size:.78rem}
.muted{color:var(--muted)}
details{border:1px solid var(--line);border-radius:8px;margin:8px 0;background:#fff}
details summary{cursor:pointer;padding:9px 12px;font-weight:600;list-style-position:inside}
details .body{padding:4px 12px 12px}
.sample{border-top:1px solid #f0f1f3;padding:10px 0}
.sample:first-child{border-top:none}
.sample .head{font-size:.8rem;color:var(--muted);margin-bottom:4px}
.sample pre{white-space:pre-wrap;word-break:break-word;background:#f8f9fb;border:1px solid #eef0f3;
border-radius:6px;padding:8px 10px;margin:0;max-height:9em;overflow:auto}
pre.config{background:#0f1722;color:#d6deeb;border-radius:8px;padding:14px 16px;max-height:420px;overflow:auto;margin:0}
.empty{color:var(--muted);font-style:italic;padding:8px 0}
footer{color:var(--muted);font-size:.8rem;padding:20px 0 30px;text-align:center}
@media (max-width:1000px){.kpis{grid-template-columns:repeat(3,1fr)}.grid2,.grid3{grid-template-columns:1fr}}
"""
