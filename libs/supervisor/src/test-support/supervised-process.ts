/**
 * A tiny worker process for the integration tests, wired like a real worker's main.ts:
 * supervisor → heartbeat → runSupervisedProcess with shutdown hooks.
 *
 * Usage: node supervised-process.ts <mode> <redisUrl> <keyNamespace>
 *   clean:    one child that stops when asked.
 *   hung:     additionally a child that ignores its signal (shutdown deadline 300 ms).
 *   throws:   like clean, and once ready a timer callback throws (an uncaught exception).
 *   rejects:  like clean, and once ready a promise rejects with nobody handling it.
 * Prints `ready` on stdout once the first heartbeat is in Redis.
 */
import { Redis } from 'ioredis';
import { runSupervisedProcess, startHeartbeat, Supervisor, type ChildSpec } from '../index.ts';
import { hangForever, untilAborted } from './children.ts';

const MODES = ['clean', 'hung', 'throws', 'rejects'];
const [mode, redisUrl, keyNamespace] = process.argv.slice(2);
if (mode === undefined || !MODES.includes(mode) || redisUrl === undefined || keyNamespace === undefined) {
  throw new Error(`usage: supervised-process.ts <${MODES.join('|')}> <redisUrl> <keyNamespace>`);
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
if (mode === 'throws') {
  setTimeout(() => {
    throw new Error('fixture: thrown in a timer callback');
  }, 10);
}
if (mode === 'rejects') {
  // Nobody awaits this promise: its rejection is unhandled.
  void Promise.reject(new Error('fixture: rejected with nobody listening'));
}
await outcome;
