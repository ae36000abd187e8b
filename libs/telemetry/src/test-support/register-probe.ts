/**
 * Run by register.test.ts as `node --import @backbone/telemetry/register <this file> …`: does
 * what a worker main does with the telemetry the register module started, and prints what it saw.
 */
import { metrics, trace } from '@opentelemetry/api';
import { startHealthServer } from '../health-server.ts';
import { activeTelemetry } from '../sdk.ts';

const telemetry = activeTelemetry();
if (telemetry === undefined) {
  process.stdout.write(`${JSON.stringify({ started: false })}\n`);
} else {
  metrics.getMeter('register-probe').createCounter('backbone.probe.events').add(2, { result: 'ok' });
  const traceId = trace.getTracer('register-probe').startActiveSpan('probe work', (span) => {
    span.end();
    return span.spanContext().traceId;
  });
  const server = await startHealthServer({
    port: 0,
    host: '127.0.0.1',
    readyz: () => Promise.resolve({ ready: true, details: {} }),
    metrics: telemetry.metricsHandler,
  });
  const metricsText = await (await fetch(`${server.url}/metrics`)).text();
  await server.close();
  await telemetry.shutdown();
  process.stdout.write(
    `${JSON.stringify({ started: true, resource: telemetry.resource, traceId, metricsText })}\n`,
  );
}
