export { loadYamlFile, validateCompose, type SchemaProblem } from './compose.ts';
export { KNOWN_KINDS, loadManifests, validateManifest, type Manifest } from './kubernetes.ts';
export {
  PrometheusNotInstalledError,
  PrometheusStartError,
  startPrometheus,
  type PromSample,
  type PrometheusServer,
  type StartPrometheusOptions,
} from './prometheus-server.ts';
export { KEY_SERIES, WORKERS, type KeySeries } from './metric-catalog.ts';
export { dashboardQueries, type DashboardQuery } from './grafana.ts';
