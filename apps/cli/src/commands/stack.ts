import {
  composeUp,
  stackDown,
  stackOptions,
  stackStatus,
  stackUp,
  StackError,
  type ServiceStatus,
} from '@backbone/stack';
import type { Command } from 'commander';

/**
 * `./backbone stack up|down|status [--json]`: the local TimescaleDB, plain PostgreSQL, Redis and
 * Apache Kafka. Failures set exit code 1 and print the stack's own message, which says what to do.
 */
export function registerStackCommand(program: Command): void {
  const stack = program
    .command('stack')
    .description('The local TimescaleDB, plain PostgreSQL, Redis and Apache Kafka (no Docker needed)');

  stack
    .command('up')
    .description(
      'Reuse what answers, start what does not (its own TimescaleDB cluster on 5433, building the ' +
        'extension once when missing; Kafka from the Apache jars), wait until all answer',
    )
    .option('--json', 'print the resulting status as JSON')
    .option('--docker', 'run docker/compose.yaml instead (needs a Docker engine)')
    .option('--redis-maxmemory <size>', 'maxmemory of a redis-server it starts, noeviction (default 1gb)')
    .option(
      '--timescaledb-source <tarball>',
      'TimescaleDB release tarball to build when the extension is missing and no package has it; ' +
        '<stem>-*.patch files next to it are applied (default ../shared/vendor/timescaledb-2.28.3.tar.gz)',
    )
    .option(
      '--ha',
      'also run the PostgreSQL HA cluster: 3 etcd, a Patroni primary + synchronous standby (TimescaleDB), HAProxy read-write on 127.0.0.1:5440',
    )
    .action(
      async (flags: {
        json?: boolean;
        docker?: boolean;
        redisMaxmemory?: string;
        timescaledbSource?: string;
        ha?: boolean;
      }) => {
        await report(async () => {
          const options = stackOptions({
            ...(flags.redisMaxmemory === undefined ? {} : { redisMaxmemory: flags.redisMaxmemory }),
            ...(flags.timescaledbSource === undefined ? {} : { timescaledbSource: flags.timescaledbSource }),
            ha: { enabled: flags.ha === true },
            log: (message) => process.stderr.write(`stack: ${message}\n`),
          });
          if (flags.docker) await composeUp(options);
          const statuses = flags.docker ? await stackStatus(options) : await stackUp(options);
          print(statuses, flags.json);
          return statuses.every((status) => status.state === 'up');
        });
      },
    );

  stack
    .command('down')
    .description('Stop what `stack up` started (the HA cluster too); services it reused keep running')
    .option('--json', 'print the stopped services as JSON')
    .action(async (flags: { json?: boolean }) => {
      await report(async () => {
        const stopped = await stackDown(
          stackOptions({ log: (message) => process.stderr.write(`stack: ${message}\n`) }),
        );
        if (flags.json) process.stdout.write(`${JSON.stringify({ stopped })}\n`);
        else
          process.stdout.write(
            stopped.length > 0
              ? `stopped: ${stopped.join(', ')}\n`
              : 'nothing to stop: `stack up` started no service\n',
          );
        return true;
      });
    });

  stack
    .command('status')
    .description(
      'Probe each service (SQL, Redis INFO, Kafka metadata; the HA members from Patroni once `up --ha` ran); exit 1 when one is down',
    )
    .option('--json', 'print JSON')
    .option('--ha', 'show the HA cluster even when this checkout did not start it')
    .action(async (flags: { json?: boolean; ha?: boolean }) => {
      await report(async () => {
        const statuses = await stackStatus(stackOptions({ ha: { enabled: flags.ha === true } }));
        print(statuses, flags.json);
        return statuses.every((status) => status.state === 'up');
      });
    });
}

async function report(work: () => Promise<boolean>): Promise<void> {
  try {
    if (!(await work())) process.exitCode = 1;
  } catch (error) {
    if (!(error instanceof StackError)) throw error;
    process.stderr.write(`stack: ${error.message}\n`);
    process.exitCode = 1;
  }
}

function print(statuses: ServiceStatus[], json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ services: statuses }, null, 2)}\n`);
    return;
  }
  const rows = statuses.map((status) => [
    status.service,
    status.state,
    status.managedBy,
    status.endpoint,
    status.state === 'up' ? shortVersion(status) : (status.error ?? ''),
  ]);
  const widths = [0, 1, 2, 3].map((column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  for (const row of rows) {
    process.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd()}\n`,
    );
  }
  for (const member of statuses.find((status) => status.service === 'ha')?.members ?? []) {
    const lag = member.lagBytes === undefined ? '' : `  lag ${member.lagBytes} B`;
    process.stdout.write(`  ${member.name}  ${member.role}  ${member.state}  ${member.endpoint}${lag}\n`);
  }
  for (const status of statuses) {
    for (const warning of status.warnings) process.stderr.write(`WARNING ${status.service}: ${warning}\n`);
  }
}

/** "PostgreSQL 15.14 (Debian …) on x86_64…; TimescaleDB 2.28.3" → "PostgreSQL 15.14, TimescaleDB 2.28.3". */
function shortVersion(status: ServiceStatus): string {
  const version = status.version ?? 'unknown';
  if (status.service === 'timescaledb' || status.service === 'postgres' || status.service === 'ha') {
    const postgres = /^PostgreSQL \S+/.exec(version)?.[0] ?? version;
    const timescaledb = /; (TimescaleDB \S+)$/.exec(version)?.[1];
    return timescaledb ? `${postgres}, ${timescaledb}` : postgres;
  }
  if (status.service === 'redis') return `Redis ${version}`;
  return `Apache Kafka ${version}`;
}
