import { redactText } from '@backbone/config';
import type { ReadinessComponent, ReadinessSnapshot } from '@backbone/contracts';
import { formatAge } from './check.ts';
import { messageOf, type ReadinessReport } from './evaluate.ts';

/** A connection endpoint shown on the dashboard; redacted again when rendered. */
export interface Endpoint {
  label: string;
  value: string;
}

export interface DashboardInput {
  report: ReadinessReport | undefined;
  /** Snapshots oldest first, the newest included. */
  history: readonly ReadinessSnapshot[];
  endpoints: readonly Endpoint[];
  /** Problems of the reporter itself (storing or publishing snapshots failed). */
  reporterProblems: readonly string[];
  now: Date;
}

/** A number series drawn as a chart, one point per snapshot. */
interface Series {
  title: string;
  unit: string;
  values: (number | null)[];
}

/**
 * The dashboard page: overall status, every check with its reason, freshness per dimension,
 * charts of ingest rows, cache hit ratio, consumer lag and queue depth from the snapshot
 * history, and the connection endpoints (redacted). Server-rendered HTML with inline SVG; it
 * reloads itself every 15 s.
 *
 * @example response.end(renderDashboard({ report, history, endpoints, reporterProblems: [], now: new Date() }));
 */
export function renderDashboard(input: DashboardInput): string {
  const { report } = input;
  const snapshot = report?.snapshot;
  const status = snapshot?.status ?? 'unknown';
  const body: string[] = [];
  body.push(
    `<header class="banner ${status}"><h1>Market data backbone: <span id="overall">${status.toUpperCase()}</span></h1>`,
    snapshot === undefined
      ? '<p>No readiness snapshot yet: the first probe round has not finished.</p>'
      : `<p>Snapshot ${escape(snapshot.id)} at ${escape(snapshot.generatedAt)} (${formatAge((input.now.getTime() - Date.parse(snapshot.generatedAt)) / 1000)} ago). Groups: liveness <b>${report?.groups.liveness ?? '?'}</b>, readiness <b>${report?.groups.readiness ?? '?'}</b>, full <b>${report?.groups.full ?? '?'}</b>.</p>`,
    '</header>',
  );
  if (report !== undefined && report.problems.length > 0) {
    body.push('<section><h2>Needs attention</h2><ul class="problems">');
    for (const problem of report.problems) body.push(`<li>${escape(problem)}</li>`);
    body.push('</ul></section>');
  }
  if (input.reporterProblems.length > 0) {
    body.push('<section><h2>Reporter</h2><ul class="problems">');
    for (const problem of input.reporterProblems) body.push(`<li>${escape(problem)}</li>`);
    body.push('</ul></section>');
  }
  if (snapshot !== undefined) {
    body.push(componentsTable(snapshot.components));
    body.push(freshnessTable(snapshot.components));
  }
  body.push('<section><h2>Trends</h2><div class="charts">');
  for (const series of seriesOf(input.history)) body.push(chart(series));
  body.push('</div></section>');
  body.push('<section><h2>Connections</h2><table><tbody>');
  for (const endpoint of input.endpoints) {
    body.push(
      `<tr><th>${escape(endpoint.label)}</th><td><code>${escape(redactText(endpoint.value))}</code></td></tr>`,
    );
  }
  body.push('</tbody></table></section>');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Readiness: ${status.toUpperCase()}</title>
<style>${STYLE}</style></head>
<body>${body.join('\n')}</body></html>
`;
}

function componentsTable(components: readonly ReadinessComponent[]): string {
  const rows = components.map(
    (component) =>
      `<tr class="${component.status}"><td><span class="pill ${component.status}">${component.status}</span></td><td>${escape(component.name)}</td><td>${escape(component.group)}${component.required ? '' : ' <small>(optional)</small>'}</td><td class="reason">${component.status === 'ok' ? '' : escape(messageOf(component))}</td><td class="num">${component.latencyMs}</td></tr>`,
  );
  return `<section><h2>Components</h2><table><thead><tr><th>status</th><th>check</th><th>component</th><th>reason</th><th>ms</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

function freshnessTable(components: readonly ReadinessComponent[]): string {
  const rows: string[] = [];
  for (const dimension of ['daily', 'intraday', 'macro'] as const) {
    const component = components.find((candidate) => candidate.name === `freshness.${dimension}`);
    if (component === undefined) continue;
    const entries = (component.evidence.symbols ?? component.evidence.sources) as
      { symbol?: string; source?: string; timeframe?: string; ageSeconds: number | null }[] | undefined;
    const sla = Number(component.evidence.slaSeconds ?? 0);
    const described =
      entries === undefined || entries.length === 0
        ? 'no data expected or stored'
        : entries
            .map(
              (entry) =>
                `${entry.symbol ?? entry.source ?? '?'}${entry.timeframe === undefined ? '' : ` ${entry.timeframe}`}: ${entry.ageSeconds === null ? 'none' : formatAge(entry.ageSeconds)}`,
            )
            .join(', ');
    rows.push(
      `<tr class="${component.status}"><td><span class="pill ${component.status}">${component.status}</span></td><td>${dimension}</td><td>${formatAge(sla)}</td><td>${escape(described)}</td></tr>`,
    );
  }
  return `<section><h2>Freshness</h2><table><thead><tr><th>status</th><th>dimension</th><th>SLA</th><th>newest data age</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

function seriesOf(history: readonly ReadinessSnapshot[]): Series[] {
  const pick = (name: string, read: (component: ReadinessComponent) => unknown): (number | null)[] =>
    history.map((snapshot) => {
      const component = snapshot.components.find((candidate) => candidate.name === name);
      const value = component === undefined ? null : read(component);
      return typeof value === 'number' && Number.isFinite(value) ? value : null;
    });
  const queueDepth = history.map((snapshot) => {
    const queues = snapshot.components.filter((component) => component.name.startsWith('bullmq.'));
    if (queues.length === 0) return null;
    let total = 0;
    for (const queue of queues) {
      const counts = queue.evidence.counts as Record<string, number> | undefined;
      if (counts === undefined) return null;
      total += (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
    }
    return total;
  });
  return [
    {
      title: 'Ingest rows (last hour)',
      unit: 'rows',
      values: pick('ingest.runs', (c) => c.evidence.rowsLastHour),
    },
    {
      title: 'Cache hit ratio',
      unit: '%',
      values: pick('cache.hit-ratio', (c) =>
        typeof c.evidence.overallHitRatio === 'number'
          ? Math.round(c.evidence.overallHitRatio * 1000) / 10
          : null,
      ),
    },
    {
      title: 'Consumer lag',
      unit: 'messages',
      values: pick('kafka.consumer-lag', (c) => c.evidence.totalLag),
    },
    { title: 'Queue depth', unit: 'jobs', values: queueDepth },
  ];
}

const WIDTH = 260;
const HEIGHT = 60;

function chart(series: Series): string {
  const known = series.values.filter((value): value is number => value !== null);
  const last = [...series.values].reverse().find((value) => value !== null) ?? null;
  const max = Math.max(1, ...known);
  const step = series.values.length > 1 ? WIDTH / (series.values.length - 1) : 0;
  // A gap (null) ends one polyline and starts the next: a missing measurement is not a zero.
  const lines: string[] = [];
  let current: string[] = [];
  series.values.forEach((value, index) => {
    if (value === null) {
      if (current.length > 0) lines.push(current.join(' '));
      current = [];
      return;
    }
    current.push(`${(index * step).toFixed(1)},${(HEIGHT - 4 - (value / max) * (HEIGHT - 8)).toFixed(1)}`);
  });
  if (current.length > 0) lines.push(current.join(' '));
  const drawn = lines
    .map((points) =>
      points.includes(' ')
        ? `<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${points}"/>`
        : `<circle r="2.5" fill="#2563eb" cx="${points.split(',')[0] ?? '0'}" cy="${points.split(',')[1] ?? '0'}"/>`,
    )
    .join('');
  const caption = last === null ? 'no data' : `${last.toLocaleString('en-US')} ${series.unit}`;
  return `<figure class="chart"><figcaption>${escape(series.title)}: <b>${escape(caption)}</b></figcaption><svg role="img" aria-label="${escape(series.title)}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}"><rect width="${WIDTH}" height="${HEIGHT}" fill="#f8fafc"/>${drawn}</svg><small>${series.values.length} snapshots, max ${max.toLocaleString('en-US')}</small></figure>`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:#0f172a}
.banner{padding:12px 16px;border-radius:8px;margin-bottom:16px}
.banner h1{margin:0 0 4px;font-size:22px}
.banner.ok{background:#dcfce7}.banner.warn{background:#fef9c3}.banner.fail,.banner.unknown{background:#fee2e2}
table{border-collapse:collapse;width:100%;margin-bottom:12px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e2e8f0;vertical-align:top}
td.num{text-align:right}td.reason{max-width:620px}
.pill{display:inline-block;padding:0 8px;border-radius:9px;font-weight:600;font-size:12px}
.pill.ok{background:#bbf7d0}.pill.warn{background:#fde68a}.pill.fail{background:#fecaca}
.problems li{margin-bottom:4px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{margin:0}
h2{font-size:16px;margin:16px 0 8px}
`;
