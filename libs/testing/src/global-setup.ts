import {
  composeUp,
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
 *   1. the local stack when all three services already answer (the usual case: `npm test` runs
 *      `./backbone stack up` first);
 *   2. otherwise, when none of the three answers and a Docker engine does, docker/compose.yaml
 *      (the same images as production; the same ports, so the endpoints do not change);
 *   3. otherwise the local stack brought up through @backbone/stack (Kafka from the Apache jars).
 * It says which one it used, and never stops anything: other runs may share these services.
 */
export async function setup(project: TestProject): Promise<void> {
  const options = stackOptions({ log: (message) => process.stdout.write(`[stack] ${message}\n`) });
  let statuses = await stackStatus(options);
  let source: string;
  if (statuses.every((status) => status.state === 'up')) {
    source = 'the running local stack';
  } else if (statuses.every((status) => status.state === 'down') && (await dockerEngineVersion())) {
    // The containers publish the same 127.0.0.1 ports, so they are used only when none of the
    // three answers locally: a local PostgreSQL or Redis would keep compose from binding its port.
    await composeUp(options);
    statuses = await stackStatus(options);
    source = 'docker compose (docker/compose.yaml)';
  } else {
    const down = statuses.filter((status) => status.state === 'down').map((status) => status.service);
    process.stdout.write(
      `[stack] starting the local stack (${down.join(', ')} not answering; docker compose is used only when no service answers and a Docker engine does)\n`,
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
}

function describe(status: ServiceStatus): string {
  const version =
    status.service === 'postgres'
      ? (/^PostgreSQL \S+/.exec(status.version ?? '')?.[0] ?? status.version)
      : status.version;
  return `${status.service} ${version ?? status.state} at ${status.endpoint}`;
}
