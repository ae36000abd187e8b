import { stringify as stringifyYaml } from 'yaml';
import { describeConfigSources, type ResolvedConfig } from './load-config.ts';
import { redact } from './redact.ts';

export type ConfigFormat = 'yaml' | 'json';

/**
 * The effective configuration as text for operators, every secret replaced by `***` through the
 * one `redact` function. YAML output starts with a comment naming the sources in precedence order.
 *
 * @example renderConfig(resolveConfig(), 'yaml') // '# sources (lowest first): defaults, env REDIS_URL\ndatabase: …'
 */
export function renderConfig(resolved: ResolvedConfig, format: ConfigFormat): string {
  const safe = redact(resolved.config);
  if (format === 'json') return `${JSON.stringify(safe, null, 2)}\n`;
  const header = describeConfigSources(resolved)
    .map((label, index) => `#   ${index + 1}. ${label}`)
    .join('\n');
  return `# Effective configuration; sources, lowest precedence first:\n${header}\n${stringifyYaml(safe)}`;
}
