import type { ReadinessSnapshot } from '@backbone/contracts';
import { messageOf, type ReadinessReport } from './evaluate.ts';

/**
 * The report as Markdown: overall status, groups, one table row per check, problems first.
 *
 * @example process.stdout.write(renderMarkdown(report));
 */
export function renderMarkdown(report: ReadinessReport): string {
  const { snapshot, groups } = report;
  const lines = [
    `# Readiness: ${snapshot.status.toUpperCase()}`,
    '',
    `Snapshot ${snapshot.id}, generated ${snapshot.generatedAt}.`,
    '',
    `Groups: liveness **${groups.liveness}**, readiness **${groups.readiness}**, full **${groups.full}**.`,
    '',
  ];
  if (report.problems.length > 0) {
    lines.push('## Problems', '', ...report.problems.map((problem) => `- ${escapeMarkdown(problem)}`), '');
  }
  lines.push(
    '## Checks',
    '',
    '| check | component | required | status | latency ms | reason |',
    '|---|---|---|---|---|---|',
  );
  for (const component of snapshot.components) {
    lines.push(
      `| ${component.name} | ${component.group} | ${component.required ? 'yes' : 'no'} | ${component.status} | ${component.latencyMs} | ${
        component.status === 'ok' ? '' : escapeMarkdown(messageOf(component))
      } |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function escapeMarkdown(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const STATUS_VALUE = { ok: 0, warn: 1, fail: 2 } as const;

/**
 * Prometheus text exposition of a snapshot: one gauge sample per check (0 ok, 1 warn, 2 fail)
 * plus the overall status and the snapshot age.
 *
 * @example response.end(renderPrometheus(snapshot, new Date()));
 */
export function renderPrometheus(snapshot: ReadinessSnapshot | undefined, now: Date): string {
  const lines = [
    '# HELP backbone_readiness_status Overall readiness (0 ok, 1 warn, 2 fail); absent before the first round.',
    '# TYPE backbone_readiness_status gauge',
  ];
  if (snapshot !== undefined) lines.push(`backbone_readiness_status ${STATUS_VALUE[snapshot.status]}`);
  lines.push(
    '# HELP backbone_readiness_check_status Status of one check (0 ok, 1 warn, 2 fail).',
    '# TYPE backbone_readiness_check_status gauge',
  );
  for (const component of snapshot?.components ?? []) {
    lines.push(
      `backbone_readiness_check_status{check="${label(component.name)}",component="${label(component.group)}",required="${component.required}"} ${STATUS_VALUE[component.status]}`,
    );
  }
  lines.push(
    '# HELP backbone_readiness_check_latency_seconds Time the probe of one check took.',
    '# TYPE backbone_readiness_check_latency_seconds gauge',
  );
  for (const component of snapshot?.components ?? []) {
    lines.push(
      `backbone_readiness_check_latency_seconds{check="${label(component.name)}"} ${component.latencyMs / 1000}`,
    );
  }
  if (snapshot !== undefined) {
    lines.push(
      '# HELP backbone_readiness_snapshot_age_seconds Age of the newest snapshot.',
      '# TYPE backbone_readiness_snapshot_age_seconds gauge',
      `backbone_readiness_snapshot_age_seconds ${(now.getTime() - Date.parse(snapshot.generatedAt)) / 1000}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
