/**
 * The report as one self-contained HTML file: inline CSS, charts as inline SVG drawn here, no
 * script, nothing fetched. Its own Content-Security-Policy (a `<meta>`, so it holds when the
 * file is opened from a disk too) allows nothing but its one stylesheet, by hash.
 */
import { createHash } from 'node:crypto';
import { html, Html } from './html.js';
import type { Report, ReportFeature, ReportFeatureStats, ReportSeries, ReportStatus } from './model.js';

const CSS = `
:root{--fg:#1d232a;--muted:#5b6570;--line:#d9dee3;--ref:#9aa5b1;--cur:#1f6feb;--detected:#c62828;--potential_detection:#e08600;--no_detection:#2e7d32;--irrelevant:#8a939c;--failed:#6a1b9a;--no_data:#b8bfc6}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0;padding:24px 32px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:16px 0 4px}
.muted{color:var(--muted)}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{font-weight:600;background:#f5f7f9}
td.n{text-align:right}
.badge{display:inline-block;white-space:nowrap;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.b-detected{background:var(--detected)}.b-potential_detection{background:var(--potential_detection)}.b-no_detection{background:var(--no_detection)}
.b-irrelevant{background:var(--irrelevant)}.b-failed{background:var(--failed)}.b-no_data{background:var(--no_data)}
.cards{display:flex;gap:16px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:180px}
.card .v{font-size:20px;font-weight:600}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:16px}
.plot{border:1px solid var(--line);border-radius:6px;padding:8px 10px}
.plot.drifted{border-color:var(--detected)}
svg{display:block;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:var(--muted)}
svg .ref{fill:var(--ref)}svg .cur{fill:var(--cur)}svg .unseen{fill:var(--detected)}
svg .axis{stroke:var(--line)}svg .line{fill:none;stroke:var(--cur);stroke-width:1.5}
svg .th-potential_detection{stroke:var(--potential_detection);stroke-dasharray:4 3}svg .th-detected{stroke:var(--detected);stroke-dasharray:4 3}
svg .s-detected{fill:var(--detected)}svg .s-potential_detection{fill:var(--potential_detection)}svg .s-no_detection{fill:var(--no_detection)}
svg .s-irrelevant,svg .s-none{fill:var(--irrelevant)}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}.legend .lr{background:var(--ref)}.legend .lc{background:var(--cur)}
footer{margin-top:32px;font-size:12px}
`;

/** The report's stylesheet, whole: the policy allows exactly this text (a formatter must not reflow it, so it is no template's markup). */
const STYLE = new Html(`<style>${CSS}</style>`);

/** The Content-Security-Policy of the report: its stylesheet by hash, images as data: URLs, nothing else. */
export const REPORT_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; img-src data:; base-uri 'none'; form-action 'none'`;

const iso = (t: number | null) => (t === null ? '-' : new Date(t).toISOString().replace('.000Z', 'Z'));

/** A number in at most 4 significant digits; small p-values in exponent form. */
export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

const badge = (s: ReportStatus | null) => (s === null ? html`<span class="muted">-</span>` : html`<span class="badge b-${s}">${s.replace('_', ' ')}</span>`);

function testsCell(f: ReportFeature): Html {
  if (f.tests.length === 0) return html`<span class="muted">not compared</span>`;
  return html`${f.tests.map(
    (t) =>
      html`<div>
        ${t.app}:
        ${t.method ?? t.result}${t.statistic !== null ? html` stat ${fmt(t.statistic)}` : ''}${t.pValue !== null ? html` p ${fmt(t.pValue)}` : ''}${t.distance !== null ? html` d ${fmt(t.distance)}` : ''}${t.threshold !== null ? html` <span class="muted">(threshold ${fmt(t.threshold)})</span>` : ''}
      </div>`,
  )}`;
}

function statsCell(s: ReportFeatureStats | null): Html {
  if (!s) return html`<span class="muted">-</span>`;
  if (s.type === 'categorical') return html`${fmt(s.count)} values, ${fmt(s.unique)} categories${s.missing ? html`, ${fmt(s.missing)} missing` : ''}`;
  return html`mean ${fmt(s.mean)} ± ${fmt(s.std)}<br /><span class="muted"
      >min ${fmt(s.min)} · median ${fmt(s.quantiles['0.5'])} · max ${fmt(s.max)}${s.missing ? html` · ${fmt(s.missing)} missing` : ''}</span
    >`;
}

const shares = (counts: readonly number[]) => {
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  return counts.map((c) => c / total);
};

/** Reference against window histograms on the reference's bins, as shares; the open outer bins only when they hold anything. */
function histogramSvg(name: string, h: NonNullable<ReportFeature['histogram']>): Html {
  const ref = shares(h.reference);
  const cur = h.current ? shares(h.current) : null;
  const bins = ref.map((_, i) => i).filter((i) => (i !== 0 && i !== ref.length - 1) || ref[i]! > 0 || (cur?.[i] ?? 0) > 0);
  const W = 380;
  const H = 170;
  const pad = { l: 34, r: 6, t: 8, b: 30 };
  const slot = (W - pad.l - pad.r) / Math.max(bins.length, 1);
  const top = Math.max(...ref, ...(cur ?? []), 1e-9);
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / top);
  const bar = (i: number, k: number, v: number, cls: string, label: string) => {
    const w = cur ? slot / 2 - 1 : slot - 2;
    return html`<rect
      class="${cls}"
      x="${fmt(pad.l + i * slot + 1 + k * (slot / 2))}"
      y="${fmt(y(v))}"
      width="${fmt(Math.max(w, 0.5))}"
      height="${fmt(H - pad.b - y(v))}"
      ><title>${label}: ${fmt(v * 100)} %</title></rect
    >`;
  };
  const edge = (i: number) => h.edges[i]!;
  const binLabel = (i: number) =>
    i === 0 ? `< ${fmt(edge(1))}` : i === h.reference.length - 1 ? `>= ${fmt(edge(i))}` : `[${fmt(edge(i))}, ${fmt(edge(i + 1))})`;
  const first = bins[0];
  const last = bins[bins.length - 1];
  return html`<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${`distribution of ${name}: reference and window`}">
    <line class="axis" x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" />
    <text x="2" y="${pad.t + 8}">${fmt(top * 100)}%</text>
    <text x="2" y="${H - pad.b}">0</text>
    ${bins.map((b, i) => [bar(i, 0, ref[b]!, 'ref', `reference ${binLabel(b)}`), cur ? bar(i, 1, cur[b]!, 'cur', `window ${binLabel(b)}`) : null])}
    ${first !== undefined ? html`<text x="${pad.l}" y="${H - 12}">${first === 0 ? `< ${fmt(edge(1))}` : fmt(edge(first))}</text>` : ''}
    ${last !== undefined ? html`<text x="${W - pad.r}" y="${H - 12}" text-anchor="end">${last === h.reference.length - 1 ? `>= ${fmt(edge(last))}` : fmt(edge(last + 1))}</text>` : ''}
  </svg>`;
}

/** Reference against window category shares, most frequent first; categories the reference never had in red. */
function categoriesSvg(name: string, cats: NonNullable<ReportFeature['categories']>): Html {
  const refTotal = cats.reduce((a, c) => a + c.reference, 0) || 1;
  const hasCur = cats.some((c) => c.current !== null);
  const curTotal = cats.reduce((a, c) => a + (c.current ?? 0), 0) || 1;
  const rowH = hasCur ? 18 : 12;
  const W = 380;
  const labelW = 120;
  const H = cats.length * rowH + 8;
  const x = (v: number) => (W - labelW - 50) * v;
  const top = Math.max(...cats.map((c) => Math.max(c.reference / refTotal, (c.current ?? 0) / curTotal)), 1e-9);
  return html`<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${`categories of ${name}: reference and window`}">
    ${cats.map((c, i) => {
      const yy = 4 + i * rowH;
      const r = c.reference / refTotal / top;
      const w = c.current === null ? null : c.current / curTotal / top;
      const label = c.value.length > 18 ? `${c.value.slice(0, 17)}…` : c.value;
      return html`<text x="${labelW - 4}" y="${yy + 9}" text-anchor="end">${label}${c.unseen ? ' (new)' : ''}<title>${c.value}</title></text>
        <rect class="ref" x="${labelW}" y="${yy}" width="${fmt(Math.max(x(r), 0.5))}" height="${hasCur ? 7 : 9}"
          ><title>reference ${c.value}: ${c.reference}</title></rect
        >
        ${w === null ? '' : html`<rect class="${c.unseen ? 'unseen' : 'cur'}" x="${labelW}" y="${yy + 8}" width="${fmt(Math.max(x(w), 0.5))}" height="7"><title>window ${c.value}: ${c.current ?? 0}</title></rect>`}`;
    })}
  </svg>`;
}

/** A result's values over time, the thresholds dashed, each window's point coloured by its status. */
function seriesSvg(s: ReportSeries, from: number, to: number): Html {
  const W = 760;
  const H = 190;
  const pad = { l: 46, r: 10, t: 10, b: 26 };
  const values = s.points.map((p) => p.value);
  const th = [s.thresholds?.potential, s.thresholds?.detected].filter((v): v is number => typeof v === 'number');
  let lo = Math.min(0, ...values);
  let hi = Math.max(...values, ...th);
  if (hi === lo) hi = lo + 1;
  hi += (hi - lo) * 0.05;
  lo -= lo < 0 ? (hi - lo) * 0.05 : 0;
  const span = Math.max(to - from, 1);
  const x = (t: number) => pad.l + ((W - pad.l - pad.r) * (t - from)) / span;
  const y = (v: number) => pad.t + ((H - pad.t - pad.b) * (hi - v)) / (hi - lo);
  const line = s.points.map((p) => `${fmt(x(p.windowStart))},${fmt(y(p.value))}`).join(' ');
  // every point of a few windows; of many, the ones that are not calm
  const dots = s.points.length <= 500 ? s.points : s.points.filter((p) => p.status !== null && p.status !== 'no_detection' && p.status !== 'irrelevant');
  const thLine = (v: number | null | undefined, cls: string, label: string) =>
    typeof v === 'number'
      ? html`<line class="th-${cls}" x1="${pad.l}" x2="${W - pad.r}" y1="${fmt(y(v))}" y2="${fmt(y(v))}" /><text
            x="${W - pad.r}"
            y="${fmt(y(v) - 3)}"
            text-anchor="end"
            >${label} ${fmt(v)}</text
          >`
      : '';
  return html`<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${`${s.app} ${s.name} over time`}">
    <line class="axis" x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" />
    <line class="axis" x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" />
    <text x="${pad.l - 4}" y="${pad.t + 8}" text-anchor="end">${fmt(hi)}</text>
    <text x="${pad.l - 4}" y="${H - pad.b}" text-anchor="end">${fmt(lo)}</text>
    <text x="${pad.l}" y="${H - 8}">${iso(from)}</text>
    <text x="${W - pad.r}" y="${H - 8}" text-anchor="end">${iso(to)}</text>
    ${thLine(s.thresholds?.potential, 'potential_detection', 'potential')}${thLine(s.thresholds?.detected, 'detected', 'detected')}
    ${s.points.length > 1 ? html`<polyline class="line" points="${line}" />` : ''}
    ${dots.map((p) => html`<circle class="s-${p.status ?? 'none'}" cx="${fmt(x(p.windowStart))}" cy="${fmt(y(p.value))}" r="3"><title>${iso(p.windowStart)}: ${fmt(p.value)}${p.status ? ` (${p.status})` : ''}</title></circle>`)}
  </svg>`;
}

function featureSection(f: ReportFeature): Html {
  const plot = f.histogram
    ? histogramSvg(f.name, f.histogram)
    : f.categories
      ? categoriesSvg(f.name, f.categories)
      : html`<p class="muted">no reference statistics</p>`;
  const noCurrent = (f.histogram && !f.histogram.current) || (f.categories && f.categories.every((c) => c.current === null));
  return html`<div class="plot${f.drifted ? ' drifted' : ''}">
    <h3>${f.name} ${f.drifted ? badge('detected') : ''}</h3>
    <div class="legend muted"><i class="lr"></i>reference${noCurrent ? ' (no window profile stored)' : html`<i class="lc"></i>window`}</div>
    ${plot}
  </div>`;
}

/** The report as one HTML document. */
export function renderReportHtml(r: Report): string {
  const ep = r.endpoint;
  const d = r.summary.detail;
  const title = `modelwatch report: ${ep.name}`;
  const results = r.series.filter((s) => s.type === 'result');
  const metrics = r.series.filter((s) => s.type === 'metric');
  const from = r.range.from ?? 0;
  const to = r.range.to ?? from + 1;
  const scope =
    r.query.batch !== undefined
      ? `batch ${r.query.batch}`
      : r.query.window !== undefined
        ? `window ${iso(r.query.window)}`
        : `${iso(r.range.from)} to ${iso(r.range.to)}`;
  const doc = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="generator" content="modelwatch report v${r.v}" />
        <title>${title}</title>
        ${STYLE}
      </head>
      <body>
        <header>
          <h1>${ep.name} ${badge(r.summary.status)}</h1>
          <div class="muted">
            ${ep.modelName ? html`model ${ep.modelName}${ep.modelVersion ? html` ${ep.modelVersion}` : ''} · ` : ''}${scope}${r.query.app ? html` · app ${r.query.app}` : ''}
            · ${r.range.windows} window(s) · generated ${r.generatedAt}
          </div>
        </header>

        <h2>Dataset drift</h2>
        <div class="cards">
          <div class="card">
            <div class="muted">worst status</div>
            <div class="v">${badge(r.summary.status)}</div>
          </div>
          <div class="card">
            <div class="muted">detailed window</div>
            <div class="v">${d ? iso(d.windowStart) : '-'}</div>
            ${d ? html`<div class="muted">${d.rows} rows · ${badge(d.status)}</div>` : ''}
          </div>
          <div class="card">
            <div class="muted">drifted features</div>
            <div class="v">${r.summary.driftedFeatures.length} of ${r.features.length}</div>
            <div class="muted">${r.summary.driftedFeatures.slice(0, 8).join(', ')}</div>
          </div>
          <div class="card">
            <div class="muted">reference</div>
            <div class="v">${ep.referenceRows ?? '-'} rows</div>
            <div class="muted">${ep.featureNames.length} features</div>
          </div>
        </div>
        ${
          r.summary.apps.length === 0
            ? html`<p class="muted">No analysed window in this range.</p>`
            : html`<table>
                <thead>
                  <tr>
                    <th>app</th>
                    <th>versions</th>
                    <th>windows</th>
                    <th>detected</th>
                    <th>potential</th>
                    <th>no detection</th>
                    <th>irrelevant</th>
                    <th>failed</th>
                    <th>empty</th>
                    <th>latest</th>
                  </tr>
                </thead>
                <tbody>
                  ${r.summary.apps.map(
                    (a) =>
                      html`<tr>
                        <td>${a.app}</td>
                        <td>${a.versions.join(', ')}</td>
                        <td class="n">${a.windows}</td>
                        <td class="n">${a.statuses.detected}</td>
                        <td class="n">${a.statuses.potential_detection}</td>
                        <td class="n">${a.statuses.no_detection}</td>
                        <td class="n">${a.statuses.irrelevant}</td>
                        <td class="n">${a.statuses.failed}</td>
                        <td class="n">${a.outcomes.empty}</td>
                        <td>
                          ${a.latest ? html`${badge(a.latest.status)} <span class="muted">${iso(a.latest.windowStart)}</span>` : '-'}${a.lastError ? html`<div class="muted">last error ${a.lastError.code}: ${a.lastError.message}</div>` : ''}
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
        }

        <h2>Features</h2>
        <p class="muted">
          ${d ? html`Tests of the window starting ${iso(d.windowStart)}; drifted windows count over all ${r.range.windows} window(s).` : 'No window with results to detail.'}
        </p>
        <table id="features">
          <thead>
            <tr>
              <th>feature</th>
              <th>type</th>
              <th>drift</th>
              <th>tests</th>
              <th>drifted windows</th>
              <th>reference</th>
              <th>window</th>
            </tr>
          </thead>
          <tbody>
            ${r.features.map(
              (f) =>
                html`<tr data-feature="${f.name}">
                  <td>${f.name}</td>
                  <td>${f.type}</td>
                  <td>${f.drifted ? badge('detected') : f.tests.length ? badge('no_detection') : badge(null)}</td>
                  <td>${testsCell(f)}</td>
                  <td class="n">${f.driftedWindows} / ${f.comparedWindows}</td>
                  <td>${statsCell(f.reference)}</td>
                  <td>${statsCell(f.current)}</td>
                </tr>`,
            )}
          </tbody>
        </table>

        <h2>Distributions</h2>
        <div class="plots">${r.features.map(featureSection)}</div>

        <h2>Results over time</h2>
        ${
          results.length === 0
            ? html`<p class="muted">No results in this range.</p>`
            : results.map(
                (s) =>
                  html`<h3>${s.app} · ${s.name}${s.kind ? html` <span class="muted">(${s.kind})</span>` : ''}</h3>
                    ${seriesSvg(s, from, to)}`,
              )
        }
        ${
          metrics.length
            ? html`<h2>Metrics over time</h2>
                ${metrics.map(
                  (s) =>
                    html`<h3>${s.app} · ${s.name}</h3>
                      ${seriesSvg(s, from, to)}`,
                )}`
            : ''
        }

        <footer class="muted">
          modelwatch report v${r.v} of endpoint ${ep.name} (${ep.id}). The same content as data: <code>modelwatch report --format json</code>.
        </footer>
      </body>
    </html> `;
  return doc.text;
}
