export { composeUp, dockerEngineVersion } from './docker.ts';
export {
  MissingToolError,
  PortInUseError,
  ServiceStartError,
  StackError,
  type ListeningProcess,
} from './errors.ts';
export { ensureKafka, kafkaFiles, probeKafka, stopKafka, type KafkaProbe } from './kafka.ts';
export {
  stackEndpoints,
  stackOptions,
  type KafkaEndpoint,
  type PostgresEndpoint,
  type RedisEndpoint,
  type StackEndpoints,
  type StackOptions,
  type StackOptionsInput,
} from './options.ts';
export { freePort } from './free-port.ts';
export {
  ensureHaCluster,
  haClusterStatus,
  stopHaCluster,
  stopHaNode,
  type HaClusterStatus,
  type HaMemberStatus,
  type HaState,
} from './ha/ha-cluster.ts';
export {
  haPrimaryAndStandby,
  killPrimaryPostmaster,
  switchover,
  synchronousPairReady,
  type FailoverOptions,
  type FailoverTimes,
  type HaPrimary,
} from './ha/failover.ts';
export {
  freeHaPorts,
  haEndpoints,
  haOptions,
  type EtcdMember,
  type HaEndpoints,
  type HaOptions,
  type HaOptionsInput,
  type PatroniNode,
} from './ha/ha-options.ts';
export {
  patroniCluster,
  patroniNodeStatus,
  postmasterPid,
  setPatroniPaused,
  type PatroniClusterMember,
  type PatroniNodeStatus,
} from './ha/patroni.ts';
export { startPrivateHaCluster, type PrivateHaCluster, type PrivateHaClusterOptions } from './private-ha.ts';
export { startPrivateKafka, type PrivateKafka, type PrivateKafkaOptions } from './private-kafka.ts';
export {
  ensurePlainPostgres,
  probePostgres,
  type PostgresProbe,
  type TimescaledbOnServer,
} from './postgres.ts';
export {
  asPostgres,
  ensurePostgresServer,
  findPostgresServer,
  initCluster,
  isClusterRunning,
  ownClusterPaths,
  postgresOwnedDir,
  renderSettings,
  runAsPostgres,
  startCluster,
  stopCluster,
  writeClusterConf,
  writeHba,
  POSTGRES_OS_USER,
  type HbaEntry,
  type OwnClusterPaths,
  type PostgresServer,
  type PostgresSettingValue,
} from './postgres-cluster.ts';
export {
  ensureTimescaleCluster,
  stopTimescaleCluster,
  timescaleClusterDir,
  timescaleClusterSettings,
  TIMESCALEDB_BACKGROUND_WORKERS,
} from './timescale-cluster.ts';
export {
  ensureTimescaledbInstalled,
  findTimescaledb,
  type TimescaledbInstallation,
  type TimescaledbInstallResult,
} from './timescaledb-install.ts';
export { ensureRedis, probeRedis, stopRedis, type RedisProbe } from './redis.ts';
export { stackDown, stackStatus, stackUp, type ServiceName, type ServiceStatus } from './stack.ts';
export type { StackState } from './state.ts';
