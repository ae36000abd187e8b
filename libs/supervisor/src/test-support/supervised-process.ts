/**
 * A tiny worker process for the integration tests, wired like a real worker's main.ts:
 * supervisor → heartbeat → runSupervisedProcess with shutdown hooks.
 *
 * Usage: node supervised-process.ts <clean|hung> <redisUrl> <keyNamespace>
 *   clean: one child that stops when asked.
 *   hung:  additionally a child that ignores its signal (shutdown deadline 300 ms).
 * Prints `ready` on stdout once the first heartbeat is in Redis.
 */
import { Redis } from 'ioredis';
import { runSupervisedProcess, startHeartbeat, Supervisor, type ChildSpec } from '../index.ts';
import { hangForever, untilAborted } from './children.ts';

const [mode, redisUrl, keyNamespace] = process.argv.slice(2);
if ((mode !== 'clean' && mode !== 'hung') || redisUrl === undefined || keyNamespace === undefined) {
  throw new Error('usage: supervised-process.ts <clean|hung> <redisUrl> <keyNamespace>');
}

const children: ChildSpec[] = [
  { name: 'consumer', restart: 'permanent', start: untilAborted, metadata: { mode } },
];
if (mode === 'hung') {
  children.push({ name: 'stuck', restart: 'permanent', start: hangForever, shutdownDeadlineMs: 300 });
}
const supervisor = new Supervisor({ name: 'fixture-worker', children });
const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
redis.on('error', (error: unknown) => {
  process.stderr.write(`${JSON.stringify({ level: 'warn', msg: 'redis error', err: String(error) })}\n`);
});
const heartbeat = startHeartbeat({
  redis,
  keyNamespace,
  worker: 'fixture-worker',
  intervalMs: 100,
  ttlMs: 300,
  snapshot: () => supervisor.snapshot(),
});

const outcome = runSupervisedProcess(supervisor, {
  onShutdown: [
    { name: 'heartbeat', close: () => heartbeat.stop() },
    {
      name: 'redis',
      close: async () => {
        await redis.quit();
      },
    },
  ],
});
await heartbeat.beat();
process.stdout.write('ready\n');
await outcome;
