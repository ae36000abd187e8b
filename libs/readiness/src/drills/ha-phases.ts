import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadinessStatus } from '@backbone/contracts';
import { killPrimaryPostmaster, switchover, type FailoverTimes, type HaOptions } from '@backbone/stack';
import type { BarSinkStats } from '@backbone/stream';
import { OutageNotObservedError } from './measure-outage.ts';

/** How the drill's sink went through one primary change. */
export interface SinkThroughChange {
  /**
   * From the trigger (SIGKILL sent / switchover requested) until the sink committed again after
   * its longest pause in the change's window: when the load resumed on the new primary. Null when
   * the sink committed nothing after the trigger (the feed had ended, or the sink never resumed).
   */
  sinkResumedMs: number | null;
  /** That longest pause between two commits of the sink (ms); null as above. */
  sinkPauseMs: number | null;
  /** Attempts of a slice that failed in the window (connection to the old primary lost) and were retried. */
  sinkFailedAttempts: number;
}

/** The unplanned failover: the primary's postmaster SIGKILLed under load. */
export interface HaFailoverPhase extends SinkThroughChange {
  oldPrimary: string;
  newPrimary: string;
  triggeredAt: string;
  /** Until `timescaledb.replication` said `fail` (no writable primary). */
  detectionMs: number;
  /** Until Patroni no longer reported the old primary as running leader. */
  patroniDetectionMs: number;
  /** Until the new primary answered Patroni's `GET /primary` (promoted). */
  promotedMs: number;
  /** Until SQL through HAProxy reached the new primary, not in recovery (writable, what the sink sees). */
  failoverMs: number;
}

/** The old primary of the failover back in the cluster as synchronous standby. */
export interface HaRejoinPhase {
  node: string;
  /** From the SIGKILL until it streamed again as synchronous standby. */
  rejoinMs: number;
  /** Whether Patroni ran pg_rewind on it (from its log) or it could simply follow the new timeline. */
  rewound: boolean;
}

/** The planned switchover back (Patroni `POST /switchover`), under the same load. */
export interface HaSwitchoverPhase extends SinkThroughChange {
  oldPrimary: string;
  newPrimary: string;
  triggeredAt: string;
  /** Until the new primary answered `GET /primary`. */
  promotedMs: number;
  /** Until SQL through HAProxy reached it. */
  failoverMs: number;
  /** Until the old primary streamed again as synchronous standby. */
  rejoinMs: number;
}

export interface HaDrillPhases {
  failover: HaFailoverPhase;
  rejoin: HaRejoinPhase;
  switchover: HaSwitchoverPhase;
}

export interface HaPhasesInput {
  ha: HaOptions;
  /** `timescaledb.replication`, run live. */
  probe: () => Promise<ReadinessStatus>;
  sinkStats: () => BarSinkStats;
  /** Called just before the SIGKILL and just before the switchover request. */
  onTrigger: (phase: 'failover' | 'switchover') => void;
  pollIntervalMs: number;
  timeoutMs: number;
}

/**
 * Drives the HA drill's primary changes while the load runs: waits for `timescaledb.replication`
 * to be `ok`, SIGKILLs the primary's postmaster and measures until the probe fails (detection),
 * until the standby is promoted and reachable through HAProxy, until the sink commits again, until
 * the old primary rejoins as synchronous standby and the probe is `ok` again (recovery); then a
 * planned switchover back, measured the same way. `detectionSeconds` / `recoverySeconds` have the
 * meaning of the other drills (trigger → `fail`, `fail` → `ok`).
 */
export async function runHaPhases(
  input: HaPhasesInput,
): Promise<{ detectionSeconds: number; recoverySeconds: number; phases: HaDrillPhases }> {
  const commits = new CommitWatch(input.sinkStats);
  try {
    await untilStatus(input, 'baseline', 'ok');
    input.onTrigger('failover');
    const failedBefore = input.sinkStats().failedAttempts;
    // Settled here: its failure is reported once the probe has been awaited.
    const killing = killPrimaryPostmaster(input.ha, { timeoutMs: input.timeoutMs }).then(
      (times) => ({ times }),
      (error: unknown) => ({ error }),
    );
    await untilStatus(input, 'detection', 'fail');
    const failedAt = Date.now();
    await untilStatus(input, 'recovery', 'ok');
    const recoveredAt = Date.now();
    const killed = await killing;
    if ('error' in killed) throw killed.error;
    const times = killed.times;
    const trigger = Date.parse(times.triggeredAt);
    const rejoinMs = times.rejoinMs ?? recoveredAt - trigger;
    const failover: HaFailoverPhase = {
      oldPrimary: times.oldPrimary,
      newPrimary: times.newPrimary,
      triggeredAt: times.triggeredAt,
      detectionMs: failedAt - trigger,
      patroniDetectionMs: times.detectionMs,
      promotedMs: times.failoverMs,
      failoverMs: times.proxyMs,
      ...commits.through(trigger, trigger + rejoinMs, input.sinkStats().failedAttempts - failedBefore),
    };
    const rejoin: HaRejoinPhase = {
      node: times.oldPrimary,
      rejoinMs,
      rewound: await rewindLogged(input.ha, times),
    };

    input.onTrigger('switchover');
    const failedBeforeSwitchover = input.sinkStats().failedAttempts;
    const switched = await switchover(input.ha, { timeoutMs: input.timeoutMs });
    const switchedAt = Date.parse(switched.triggeredAt);
    const switchoverPhase: HaSwitchoverPhase = {
      oldPrimary: switched.oldPrimary,
      newPrimary: switched.newPrimary,
      triggeredAt: switched.triggeredAt,
      promotedMs: switched.failoverMs,
      failoverMs: switched.proxyMs,
      rejoinMs: switched.rejoinMs ?? 0,
      ...commits.through(
        switchedAt,
        switchedAt + (switched.rejoinMs ?? 0),
        input.sinkStats().failedAttempts - failedBeforeSwitchover,
      ),
    };
    return {
      detectionSeconds: (failedAt - trigger) / 1000,
      recoverySeconds: (recoveredAt - failedAt) / 1000,
      phases: { failover, rejoin, switchover: switchoverPhase },
    };
  } finally {
    commits.stop();
  }
}

/**
 * Records when the sink committed (its `committedSlices` going up, polled every 25 ms) so each
 * primary change can be judged from the commits around it.
 */
class CommitWatch {
  readonly #times: number[] = [];
  readonly #stop = new AbortController();

  constructor(stats: () => BarSinkStats) {
    void this.#watch(stats);
  }

  async #watch(stats: () => BarSinkStats): Promise<void> {
    let seen = stats().committedSlices;
    while (!this.#stop.signal.aborted) {
      const now = stats().committedSlices;
      if (now > seen) this.#times.push(Date.now());
      seen = now;
      await sleep(25, undefined, { signal: this.#stop.signal }).catch(() => undefined);
    }
  }

  /** The longest pause between commits from `from` (the trigger) to `to`, and when it ended. */
  through(from: number, to: number, sinkFailedAttempts: number): SinkThroughChange {
    let previous = from;
    let longest: { pauseMs: number; endedAt: number } | undefined;
    for (const at of this.#times) {
      if (at <= from) continue;
      if (longest === undefined || at - previous > longest.pauseMs)
        longest = { pauseMs: at - previous, endedAt: at };
      previous = at;
      // The first commit after the window still ends a pause that began inside it.
      if (at > to) break;
    }
    return {
      sinkResumedMs: longest === undefined ? null : longest.endedAt - from,
      sinkPauseMs: longest?.pauseMs ?? null,
      sinkFailedAttempts,
    };
  }

  stop(): void {
    this.#stop.abort();
  }
}

async function untilStatus(
  input: Pick<HaPhasesInput, 'probe' | 'pollIntervalMs' | 'timeoutMs'>,
  phase: 'baseline' | 'detection' | 'recovery',
  wanted: ReadinessStatus,
): Promise<void> {
  const deadline = performance.now() + input.timeoutMs;
  let last: ReadinessStatus | undefined;
  for (;;) {
    last = await input.probe();
    if (last === wanted) return;
    if (performance.now() >= deadline) throw new OutageNotObservedError(phase, input.timeoutMs, last);
    await sleep(input.pollIntervalMs);
  }
}

/** Patroni logs `running pg_rewind from <leader>` on the node it rewinds, after the trigger. */
async function rewindLogged(ha: HaOptions, times: FailoverTimes): Promise<boolean> {
  const log = await readFile(join(ha.dir, times.oldPrimary, 'patroni.log'), 'utf8').catch(() => '');
  return log
    .split('\n')
    .some((line) => /running pg_rewind/.test(line) && line.slice(0, 19) >= logTime(times.triggeredAt));
}

/** An ISO instant as the start of a Patroni log line (`2026-12-02 14:40:18`, UTC here). */
function logTime(iso: string): string {
  return iso.slice(0, 19).replace('T', ' ');
}
