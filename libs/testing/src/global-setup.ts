import { join } from 'node:path';
import {
  dockerEngineVersion,
  stackEndpoints,
  stackOptions,
  stackStatus,
  stackUp,
  type ServiceStatus,
} from '@backbone/stack';
import type { TestProject } from 'vitest/node';
import type {} from './endpoints.ts';

/**
 * Runs once per test run, before any test file. Finds the services the integration tests talk
 * to and hands their endpoints to the tests (`inject('endpoints')`):
 *   1. the local stack when all four services (TimescaleDB, the plain PostgreSQL, Redis, Kafka)
 *      already answer (the usual case: `npm test` runs `./backbone stack up` first);
 *   2. otherwise, when none of the four answers and a Docker engine does, testcontainers runs
 *      docker/compose.yaml's timescaledb, redis and kafka services (the production images; the
 *      same ports, so the endpoints do not change) for this run, and removes them after it;
 *   3. otherwise the local stack brought up through @backbone/stack (Kafka from the Apache jars).
 * It says which one it used, and never stops a service it did not start: other runs may share
 * them.
 */
export async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const options = stackOptions({ log: (message) => process.stdout.write(`[stack] ${message}\n`) });
  let statuses = await stackStatus(options);
  let source: string;
  let teardown: (() => Promise<void>) | undefined;
  if (statuses.every((status) => status.state === 'up')) {
    source = 'the running local stack';
  } else if (statuses.every((status) => status.state === 'down') && (await dockerEngineVersion())) {
    // The containers publish the same 127.0.0.1 ports, so they are used only when none of the
    // four answers locally: a local PostgreSQL or Redis would keep compose from binding its port.
    // Loaded only here: machines without Docker never load testcontainers.
    const { DockerComposeEnvironment, Wait } = await import('testcontainers');
    const containers = await new DockerComposeEnvironment(join(options.rootDir, 'docker'), 'compose.yaml')
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      .up(['timescaledb', 'postgres', 'redis', 'kafka']);
    teardown = async () => {
      await containers.down();
    };
    statuses = await stackStatus(options);
    source = 'testcontainers (docker/compose.yaml: timescaledb, postgres, redis, kafka)';
  } else {
    const down = statuses.filter((status) => status.state === 'down').map((status) => status.service);
    process.stdout.write(
      `[stack] starting the local stack (${down.join(', ')} not answering; testcontainers is used only when no service answers and a Docker engine does)\n`,
    );
    statuses = await stackUp(options);
    source = 'the local stack, started by the test run';
  }
  const endpoints = stackEndpoints(options);
  process.stdout.write(`[stack] integration tests use ${source}: ${statuses.map(describe).join(', ')}\n`);
  for (const status of statuses) {
    for (const warning of status.warnings)
      process.stdout.write(`[stack] WARNING ${status.service}: ${warning}\n`);
  }
  project.provide('endpoints', endpoints);
  return teardown;
}

function describe(status: ServiceStatus): string {
  const version =
    status.service === 'postgres' || status.service === 'timescaledb' || status.service === 'ha'
      ? (/^PostgreSQL \S+/.exec(status.version ?? '')?.[0] ?? status.version)
      : status.version;
  return `${status.service} ${version ?? status.state} at ${status.endpoint}`;
}
