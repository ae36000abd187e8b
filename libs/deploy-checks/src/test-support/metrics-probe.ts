/**
 * Stand-in for the four workers in the dashboard-query check (see prometheus.int.test.ts): a real process
 * started like a worker (`node --import @backbone/telemetry/register`), serving /livez, /readyz
 * and /metrics through @backbone/telemetry's health server, and recording the key series with
 * the workers' instrument names (metric-catalog.ts). Each line on stdin is one "tick": the
 * counters and gauges move, so the test can see them move through Prometheus.
 * Prints `{"url": …}` once listening.
 */
import { createInterface } from 'node:readline';
import { metrics } from '@opentelemetry/api';
import { activeTelemetry, startHealthServer } from '@backbone/telemetry';

const telemetry = activeTelemetry();
if (telemetry === undefined) throw new Error('start this probe with --import @backbone/telemetry/register');

const meter = metrics.getMeter('deploy-checks-probe');
const ingestRows = meter.createCounter('backbone.ingest.rows', { unit: '{row}' });
const freshness = meter.createGauge('backbone.ingest.freshness', { unit: 's' });
const cacheRequests = meter.createCounter('backbone.cache.requests', { unit: '{request}' });
let lag = 0;
let queued = 0;
meter.createObservableGauge('backbone.stream.consumer_lag', { unit: '{record}' }).addCallback((result) => {
  result.observe(lag, {
    'messaging.consumer.group.name': 'backbone-stream-bridge',
    'messaging.destination.name': 'market.bars.v1',
    'messaging.destination.partition.id': '0',
  });
});
meter.createObservableGauge('backbone.queue.jobs', { unit: '{job}' }).addCallback((result) => {
  result.observe(queued, { queue: 'ingest', state: 'waiting' });
});

let tick = 0;
function record(): void {
  tick += 1;
  ingestRows.add(10 * tick, { outcome: 'inserted', dimension: 'bars' });
  freshness.record(30 + tick, { dimension: 'bars', symbol: 'EURUSD' });
  cacheRequests.add(3, { result: 'hit', dataset: 'latestBar' });
  cacheRequests.add(1, { result: 'miss', dataset: 'latestBar' });
  lag = 100 * tick;
  queued = 5 * tick;
}
record();

const server = await startHealthServer({
  port: 0,
  host: '127.0.0.1',
  readyz: () => Promise.resolve({ ready: true, details: { tick } }),
  metrics: telemetry.metricsHandler,
});
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

// Closing stdin ends the probe: the server closes, telemetry flushes, the loop drains.
for await (const _line of createInterface({ input: process.stdin })) record();
await server.close();
await telemetry.shutdown();
