import { listHeartbeats } from '@backbone/supervisor';
import type { Redis } from 'ioredis';
import { combine, formatAge, type CheckOutcome, type Evidence, type Finding } from '../check.ts';
import type { CheckDefinition } from '../run-check.ts';

/** `timescaleIngestor` (config key) → `timescale-ingestor` (worker role in heartbeats and `serve`). */
export function workerRole(configName: string): string {
  return configName.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

export interface WorkersProbeInput {
  redis: Redis;
  keyNamespace: string;
  /** Worker roles (`cache-warmer` …) that must have at least one live instance. */
  expectedWorkers: readonly string[];
  now?: () => Date;
}

/**
 * The workers check: every expected worker has a live heartbeat, and no instance's supervisor
 * escalated or holds a failed or orphaned child.
 *
 * @example const check = workersCheck({ redis, keyNamespace: 'backbone:', expectedWorkers: ['stream-bridge'] });
 */
export function workersCheck(input: WorkersProbeInput): CheckDefinition {
  const now = input.now ?? (() => new Date());
  return { name: 'workers.heartbeats', component: 'workers', run: () => probeWorkers(input, now()) };
}

async function probeWorkers(input: WorkersProbeInput, now: Date): Promise<CheckOutcome> {
  const { live, malformed } = await listHeartbeats({ redis: input.redis, keyNamespace: input.keyNamespace });
  const findings: Finding[] = [];
  for (const worker of input.expectedWorkers) {
    if (!live.some((instance) => instance.payload.worker === worker)) {
      findings.push({
        status: 'fail',
        reason: 'worker_missing',
        message: `Worker ${worker} has no live heartbeat under ${input.keyNamespace}workers:${worker}:*; start it with ./backbone serve ${worker}.`,
      });
    }
  }
  const instances: Evidence[] = [];
  for (const { payload } of live) {
    const { snapshot } = payload;
    const ageSeconds = Math.max(0, (now.getTime() - Date.parse(payload.publishedAt)) / 1000);
    const who = `${payload.worker} instance ${payload.instanceId}`;
    instances.push({
      worker: payload.worker,
      instanceId: payload.instanceId,
      host: payload.host,
      pid: payload.pid,
      publishedAt: payload.publishedAt,
      heartbeatAgeSeconds: Math.round(ageSeconds * 10) / 10,
      supervisor: snapshot.status,
      children: snapshot.children.map((child) => ({
        name: child.name,
        state: child.state,
        restarts: child.restarts,
      })),
    });
    if (snapshot.status === 'escalated') {
      findings.push({
        status: 'fail',
        reason: 'supervisor_escalated',
        message: `${who}: its supervisor escalated (${snapshot.escalation?.message ?? 'no reason recorded'}) and stopped every child; restart the worker and fix the cause.`,
      });
    } else if (snapshot.status !== 'running' && snapshot.status !== 'idle') {
      // idle: the supervisor has not started its children yet. A worker publishes its first
      // heartbeat just before it starts them, so that is a worker starting, not a fault.
      findings.push({
        status: 'warn',
        reason: 'supervisor_not_running',
        message: `${who}: its supervisor is ${snapshot.status}.`,
      });
    }
    for (const child of snapshot.children) {
      if (child.state === 'failed' || child.state === 'orphaned') {
        findings.push({
          status: 'fail',
          reason: child.state === 'failed' ? 'child_failed' : 'child_orphaned',
          message: `${who}: task ${child.name} is ${child.state}${child.lastError === null ? '' : ` (${child.lastError.name}: ${child.lastError.message})`}; restart the worker.`,
        });
      } else if (child.state === 'restarting') {
        findings.push({
          status: 'warn',
          reason: 'child_restarting',
          message: `${who}: task ${child.name} is restarting after ${child.restarts} restarts${child.lastError === null ? '' : ` (last error ${child.lastError.message})`}.`,
        });
      }
    }
    if (ageSeconds * 1000 > payload.intervalMs * 2) {
      findings.push({
        status: 'warn',
        reason: 'heartbeat_late',
        message: `${who}: its last heartbeat is ${formatAge(ageSeconds)} old, more than two intervals of ${payload.intervalMs} ms; the process may be blocked.`,
      });
    }
  }
  for (const entry of malformed) {
    findings.push({
      status: 'warn',
      reason: 'heartbeat_malformed',
      message: `Heartbeat key ${entry.key} is not a valid heartbeat (${entry.problem}); a worker of another version may be writing it.`,
    });
  }
  return combine(findings, {
    expectedWorkers: [...input.expectedWorkers],
    instances,
    malformed: malformed.map((entry) => entry.key),
  });
}
