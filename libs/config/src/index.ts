export { REDACTED, redact, redactText } from './redact.ts';
export { ConfigError, formatConfigError, type ConfigIssue } from './config-error.ts';
export { parseConfigArgs, type ConfigArgs } from './config-args.ts';
export {
  describeConfigSources,
  loadConfig,
  resolveConfig,
  type ConfigSource,
  type LoadConfigOptions,
  type ResolvedConfig,
} from './load-config.ts';
export {
  PROVIDER_NAMES,
  SYMBOL,
  TOPIC_NAMES,
  WORKER_NAMES,
  redisTlsOptions,
  streamBridgeGroupId,
  systemConfigSchema,
  topicName,
  type ProviderName,
  type SystemConfig,
  type SystemConfigInput,
  type TopicName,
  type WorkerName,
} from './schema.ts';
export { renderConfig, type ConfigFormat } from './print-config.ts';
