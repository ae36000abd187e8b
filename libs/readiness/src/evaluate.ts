import { randomUUID } from 'node:crypto';
import {
  readinessSnapshotSchema,
  type ReadinessComponent,
  type ReadinessSnapshot,
  type ReadinessStatus,
} from '@backbone/contracts';
import { worst, type CheckResult } from './check.ts';
import { runCheck, type CheckDefinition } from './run-check.ts';
import type { ReadinessRules } from './rules.ts';

/** Status per health group (Spring Boot Actuator style). */
export interface GroupStatuses {
  /** The reporter process itself: it evaluated this snapshot. */
  liveness: ReadinessStatus;
  /** Required components only: `fail` here takes the instance out of service. */
  readiness: ReadinessStatus;
  /** Every component, optional failures degraded to warn. */
  full: ReadinessStatus;
}

/** One evaluation: the published snapshot (contract v1) plus the group statuses. */
export interface ReadinessReport {
  snapshot: ReadinessSnapshot;
  groups: GroupStatuses;
  /** Operator sentences of every non-ok component, worst first. */
  problems: string[];
}

/**
 * Whether a component is required. Components named in neither list count as required: an
 * unclassified failure must not be silently downgraded.
 */
export function isRequired(component: string, rules: Pick<ReadinessRules, 'optionalComponents'>): boolean {
  return !rules.optionalComponents.includes(component);
}

/**
 * Runs every check concurrently, each under the probe timeout, and folds the results into a
 * snapshot: an optional component's `fail` becomes `warn` (its evidence keeps `probeStatus:
 * 'fail'`), so one optional failure cannot take every instance out of service.
 *
 * @example const report = await evaluateReadiness(checks, rules);
 */
export async function evaluateReadiness(
  checks: readonly CheckDefinition[],
  rules: ReadinessRules,
  options: { now?: () => Date } = {},
): Promise<ReadinessReport> {
  const now = options.now ?? (() => new Date());
  const generatedAt = now().toISOString();
  const results = await Promise.all(checks.map((check) => runCheck(check, rules.probeTimeoutMs, now)));
  return buildReport(results, rules, generatedAt);
}

/** The snapshot of already-run checks. */
export function buildReport(
  results: readonly CheckResult[],
  rules: ReadinessRules,
  generatedAt: string,
): ReadinessReport {
  const components: ReadinessComponent[] = results.map((result) => {
    const required = isRequired(result.component, rules);
    const status: ReadinessStatus = !required && result.status === 'fail' ? 'warn' : result.status;
    const evidence: Record<string, unknown> = { ...result.evidence };
    if (result.message !== undefined) evidence.message = result.message;
    if (status !== result.status) evidence.probeStatus = result.status;
    return {
      name: result.name,
      group: result.component,
      required,
      status,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
      evidence: JSON.parse(JSON.stringify(evidence)) as ReadinessComponent['evidence'],
      checkedAt: result.checkedAt,
      latencyMs: result.latencyMs,
    };
  });
  const full = worst(...components.map((component) => component.status));
  const readiness = worst(
    ...components.filter((component) => component.required).map((component) => component.status),
  );
  const snapshot = readinessSnapshotSchema.parse({ id: randomUUID(), generatedAt, status: full, components });
  const rank = { fail: 0, warn: 1, ok: 2 } as const;
  const problems = [...components]
    .filter((component) => component.status !== 'ok')
    .sort((a, b) => rank[a.status] - rank[b.status])
    .map((component) => `${component.status.toUpperCase()} ${component.name}: ${messageOf(component)}`);
  return { snapshot, groups: { liveness: 'ok', readiness, full }, problems };
}

/** The operator sentence of a component (kept in its evidence, since the contract has no field for it). */
export function messageOf(component: ReadinessComponent): string {
  const message = component.evidence.message;
  return typeof message === 'string' ? message : (component.reason ?? 'no reason recorded');
}

/** Monitoring-plugin exit code: 0 ok, 1 warn, 2 fail (3, could not evaluate, is the caller's). */
export function exitCodeOf(status: ReadinessStatus): 0 | 1 | 2 {
  return status === 'ok' ? 0 : status === 'warn' ? 1 : 2;
}
