/**
 * A stand-in for `./backbone start`: starts the fixture worker (supervised-process.ts) the way the
 * launcher starts its workers (an IPC channel, a process group of its own), prints the worker's
 * pid and then waits to be killed. The worker's stderr goes to a file, so its last words are
 * still readable after this process is gone.
 *
 * Usage: node launcher.ts <mode> <redisUrl> <keyNamespace> <stderrFile>
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const [mode, redisUrl, keyNamespace, stderrFile] = process.argv.slice(2);
if (mode === undefined || redisUrl === undefined || keyNamespace === undefined || stderrFile === undefined) {
  throw new Error('usage: launcher.ts <mode> <redisUrl> <keyNamespace> <stderrFile>');
}
const script = fileURLToPath(new URL('./supervised-process.ts', import.meta.url));
const worker = spawn(process.execPath, [script, mode, redisUrl, keyNamespace], {
  stdio: ['ignore', 'pipe', openSync(stderrFile, 'w'), 'ipc'],
  detached: true,
});
// A pipe ('pipe' above); spawn's typings know that only for a three-element stdio.
(worker.stdout as Readable).on('data', (chunk: Buffer) => {
  if (chunk.toString().includes('ready')) process.stdout.write(`worker ${worker.pid ?? '?'} ready\n`);
});
// Keep running until killed.
setInterval(() => undefined, 60_000);
