import { redactText } from '@backbone/config';
import { barRuleOptionsFromSettings } from '@backbone/contracts';
import {
  DRILL_TARGETS,
  DrillRefusedError,
  DrillTargetError,
  rulesFromConfig,
  runDrill,
  type DrillTarget,
} from '@backbone/readiness';
import type { Command } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

interface DrillFlags {
  confirmNonLocal?: boolean;
  ha?: boolean;
  bars?: string;
  rate?: string;
}

/** Bars the feed produces by default: the HA drill's load must outlast a failover, a rejoin and a switchover. */
const DEFAULT_BARS = { single: 1_500, ha: 4_500 };

/**
 * `./backbone drill redis|kafka|timescale [--ha]`: a real failover drill (see docs/readiness.md,
 * Drills). Prints `{ target, ha, detectionSeconds, recoverySeconds, produced, producedAtCut,
 * stored, lost, duplicated, cacheFresh }` as JSON, with `--ha` also `producedAtSwitchover` and
 * `phases: { failover, rejoin, switchover }`. Exit 0 when nothing was lost or duplicated and the cache is
 * fresh again, 1 when the drill ran and found a loss, a duplicate or a stale cache (or could not
 * finish, e.g. no Java for the kafka drill's private broker), 2 for bad usage, a refused non-local
 * stack or an unknown target.
 */
export function registerDrillCommand(program: Command): void {
  program
    .command('drill')
    .description('Failover drill: cut a dependency under load, measure detection and recovery, reconcile.')
    .argument('<target>', DRILL_TARGETS.join(' | '))
    .option('--confirm-non-local', 'allow hosts other than 127.0.0.1/localhost')
    .option(
      '--ha',
      'timescale only: SIGKILL the primary of a private Patroni HA cluster under load, then switch over',
    )
    .option(
      '--bars <n>',
      `bars the feed produces (default ${DEFAULT_BARS.single}; ${DEFAULT_BARS.ha} with --ha)`,
    )
    .option('--rate <n>', 'feed bars per second', '150')
    .addHelpText(
      'after',
      `
Targets:
  redis, timescale  the drill's clients reach the shared service through a TCP proxy it cuts
                    and restores; the service itself is never stopped (about 15-30 s)
  kafka             the load runs against a private broker the drill starts from the stack's
                    jars (Java 17+) on free ports, stops (a real process stop) and starts again
                    on the same storage; the shared broker is untouched (2-5 minutes: two
                    JVM starts)
  timescale --ha    the load runs against a private PostgreSQL HA cluster the drill starts on
                    free ports (3 etcd, Patroni primary + synchronous standby, HAProxy; needs
                    patroni, etcd-server, haproxy and root or postgres): the sink writes
                    through HAProxy; the drill SIGKILLs the primary's postmaster, Patroni
                    promotes the standby, the old primary rejoins as standby, then a planned
                    switchover back; the shared database is untouched (about a minute)

Prints { target, ha, detectionSeconds, recoverySeconds, produced, producedAtCut, stored, lost,
duplicated, cacheFresh } as JSON (producedAtCut < produced: the load ran across the outage).
With --ha detection is timescaledb.replication saying fail (no writable primary), recovery is
until it says ok again (the old primary back as synchronous standby), and the JSON also has
producedAtSwitchover and phases (ms from each trigger):
  failover    { oldPrimary, newPrimary, detectionMs, patroniDetectionMs, promotedMs,
                failoverMs (writable through HAProxy), sinkResumedMs, sinkPauseMs,
                sinkFailedAttempts }
  rejoin      { node, rejoinMs, rewound (pg_rewind ran) }
  switchover  { oldPrimary, newPrimary, promotedMs, failoverMs, rejoinMs, sinkResumedMs,
                sinkPauseMs, sinkFailedAttempts }

Exit 0: nothing lost or duplicated and the cache fresh again; 1: a loss, a duplicate, a stale
cache or a drill that could not finish; 2: bad usage or a non-local stack without
--confirm-non-local.`,
    )
    .action(async (target: string, flags: DrillFlags) => {
      const ha = flags.ha === true;
      const totalBars = Number(flags.bars ?? (ha ? DEFAULT_BARS.ha : DEFAULT_BARS.single));
      const ratePerSecond = Number(flags.rate);
      if (!(DRILL_TARGETS as readonly string[]).includes(target)) {
        usage(`target must be one of ${DRILL_TARGETS.join(', ')}, got ${target}`);
        return;
      }
      if (ha && target !== 'timescale') {
        usage(`--ha applies only to the timescale drill, got ${target}`);
        return;
      }
      if (!Number.isInteger(totalBars) || totalBars < 1) {
        usage(`--bars must be a positive integer, got ${flags.bars}`);
        return;
      }
      if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) {
        usage(`--rate must be a positive number, got ${flags.rate}`);
        return;
      }
      const config = loadCliConfig();
      try {
        const report = await runDrill(target as DrillTarget, {
          databaseUrl: config.database.url,
          redisUrl: config.redis.url,
          kafkaBrokers: config.kafka.brokers,
          rules: rulesFromConfig(config),
          confirmNonLocal: flags.confirmNonLocal === true,
          ha,
          barRules: barRuleOptionsFromSettings(config.ingest),
          totalBars,
          ratePerSecond,
        });
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        process.exitCode = report.lost === 0 && report.duplicated === 0 && report.cacheFresh ? 0 : 1;
      } catch (error) {
        process.stderr.write(`drill: ${describe(error)}\n`);
        process.exitCode = error instanceof DrillRefusedError || error instanceof DrillTargetError ? 2 : 1;
      }
    });
}

function usage(message: string): void {
  process.stderr.write(`drill: ${message}\n`);
  process.exitCode = 2;
}

function describe(error: unknown): string {
  return redactText(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
