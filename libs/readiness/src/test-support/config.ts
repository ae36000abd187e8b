import { systemConfigSchema, type SystemConfig, type SystemConfigInput } from '@backbone/config';
import { rulesFromConfig, type ReadinessRules } from '../rules.ts';

/** A validated config from a partial input (defaults fill the rest). */
export function testConfig(input: SystemConfigInput = {}): SystemConfig {
  return systemConfigSchema.parse(input);
}

/** Rules of a partial config, with overrides. */
export function testRules(
  input: SystemConfigInput = {},
  overrides: Partial<ReadinessRules> = {},
): ReadinessRules {
  return { ...rulesFromConfig(testConfig(input)), ...overrides };
}
