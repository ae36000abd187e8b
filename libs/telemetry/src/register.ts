/**
 * Starts this process's telemetry before anything else is loaded, so every module the worker
 * imports afterwards sees the real tracer and meter providers:
 *
 *   node --import @backbone/telemetry/register apps/<worker>/src/main.ts
 *
 * The worker's main then takes the running instance with `activeTelemetry()` (Prometheus
 * handler for its health server, `shutdown()` for its supervisor).
 */
import { ConfigError, loadConfig, type SystemConfig } from '@backbone/config';
import { telemetryOptionsFor } from './options.ts';
import { startTelemetry } from './sdk.ts';

let config: SystemConfig | undefined;
try {
  config = loadConfig();
} catch (error) {
  // An invalid config is the worker's to report (every bad path, exit code 2) when its main
  // loads the same config a moment later; failing here would print a bare stack trace instead.
  if (!(error instanceof ConfigError)) throw error;
}
if (config !== undefined) startTelemetry(telemetryOptionsFor(config, process.argv[1]));
