import type { ReadinessStatus } from '@backbone/contracts';

/** JSON-serialisable measurements a status was derived from. */
export type Evidence = Record<string, unknown>;

/**
 * The outcome of one check: a status with a stable reason code and, when not ok, a sentence an
 * operator can act on (it names the thing and the numbers).
 */
export interface CheckOutcome {
  status: ReadinessStatus;
  /** Stable reason code (`^[a-z][a-z0-9_]{0,63}$`); absent when ok. */
  reason?: string;
  /** Operator-actionable sentence; absent when ok. */
  message?: string;
  evidence: Evidence;
}

/**
 * One evaluated check. `component` is the configured readiness component it belongs to
 * (`timescaledb`, `redis`, `kafka`, `bullmq`, `workers`, `ingest-freshness`, `cache`,
 * `retention`), which decides whether it is required.
 */
export interface CheckResult extends CheckOutcome {
  /** Dotted check name, e.g. `redis.memory`. */
  name: string;
  component: string;
  checkedAt: string;
  latencyMs: number;
}

const RANK: Record<ReadinessStatus, number> = { ok: 0, warn: 1, fail: 2 };

/** The worse of two statuses. @example worst('ok', 'warn') // 'warn' */
export function worst(...statuses: ReadinessStatus[]): ReadinessStatus {
  let result: ReadinessStatus = 'ok';
  for (const status of statuses) if (RANK[status] > RANK[result]) result = status;
  return result;
}

/** One problem (or none, when ok) found by a check. */
export interface Finding {
  status: ReadinessStatus;
  reason: string;
  message: string;
}

/** An ok outcome with its evidence. */
export function ok(evidence: Evidence): CheckOutcome {
  return { status: 'ok', evidence };
}

/** A warn or fail outcome; the message must name the thing and the numbers. */
export function notOk(
  status: 'warn' | 'fail',
  reason: string,
  message: string,
  evidence: Evidence,
): CheckOutcome {
  return { status, reason, message, evidence };
}

/**
 * Several findings of one check folded into one outcome: the worst status, its reason, and every
 * non-ok sentence joined (worst first), so nothing an operator should fix is hidden.
 */
export function combine(findings: readonly Finding[], evidence: Evidence): CheckOutcome {
  const bad = findings
    .filter((finding) => finding.status !== 'ok')
    .sort((a, b) => RANK[b.status] - RANK[a.status]);
  const first = bad[0];
  if (first === undefined) return ok(evidence);
  return {
    status: first.status,
    reason: first.reason,
    message: bad.map((finding) => finding.message).join(' '),
    evidence,
  };
}

/** `48210` → `48,210`: numbers in operator sentences are read, not parsed. */
export function formatCount(value: number | bigint): string {
  return value.toLocaleString('en-US');
}

/** Seconds as `3h 12m`, `45s`, `2d 4h`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s}s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}
