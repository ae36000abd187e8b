import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { SystemConfig } from '@backbone/config';
import type { TelemetryOptions } from './sdk.ts';

/**
 * The telemetry options for a process started as `node --import @backbone/telemetry/register
 * <entryScript>`: config's `telemetry` section, the service name derived from the entry script
 * (`apps/stream-bridge/src/main.ts` → `backbone-stream-bridge`) unless configured, and the
 * version of the package that owns the script.
 *
 * @example telemetryOptionsFor(loadConfig(), 'apps/stream-bridge/src/main.ts')
 */
export function telemetryOptionsFor(config: SystemConfig, entryScript: string | undefined): TelemetryOptions {
  const { telemetry } = config;
  return {
    serviceName: telemetry.serviceName ?? serviceNameFor(entryScript),
    serviceVersion: entryScript === undefined ? '0.0.0' : (packageVersionFor(entryScript) ?? '0.0.0'),
    otlpEndpoint: telemetry.otlpEndpoint,
    spanFilePath: telemetry.spanFileExporterPath,
    logLevel: telemetry.logLevel,
  };
}

/** `backbone-<app>` for a script under `apps/<app>/`, else `backbone-<script name>`. */
export function serviceNameFor(entryScript: string | undefined): string {
  if (entryScript === undefined) return 'backbone';
  const app = /(?:^|[\\/])apps[\\/]([^\\/]+)[\\/]/.exec(entryScript)?.[1];
  return `backbone-${app ?? basename(entryScript, extname(entryScript))}`;
}

/** The `version` of the nearest package.json at or above the script's directory. */
function packageVersionFor(entryScript: string): string | undefined {
  let directory = dirname(resolve(entryScript));
  for (;;) {
    const manifest = join(directory, 'package.json');
    if (existsSync(manifest)) {
      const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown };
      return typeof version === 'string' ? version : undefined;
    }
    const parent = dirname(directory);
    if (parent === directory) return undefined;
    directory = parent;
  }
}
