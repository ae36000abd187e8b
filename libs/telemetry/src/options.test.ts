import { loadConfig } from '@backbone/config';
import { describe, expect, it } from 'vitest';
import { serviceNameFor, telemetryOptionsFor } from './options.ts';

describe('telemetry options', () => {
  it('names the service after the app that owns the entry script', () => {
    expect(serviceNameFor('/srv/backbone/apps/stream-bridge/src/main.ts')).toBe('backbone-stream-bridge');
    expect(serviceNameFor('apps/cache-warmer/dist/main.js')).toBe('backbone-cache-warmer');
    expect(serviceNameFor('/tmp/probe.ts')).toBe('backbone-probe');
    expect(serviceNameFor(undefined)).toBe('backbone');
  });

  it('takes endpoint, span file, level and an explicit service name from config', () => {
    const config = loadConfig({
      argv: [
        '--set',
        'telemetry.otlpEndpoint=http://collector:4318',
        '--set',
        'telemetry.serviceName=bridge-eu',
        '--set',
        'telemetry.logLevel=debug',
      ],
      env: {},
    });
    expect(telemetryOptionsFor(config, undefined)).toEqual({
      serviceName: 'bridge-eu',
      serviceVersion: '0.0.0',
      otlpEndpoint: 'http://collector:4318',
      spanFilePath: undefined,
      logLevel: 'debug',
    });
  });
});
