export { loadWorkerConfig } from './load-worker-config.ts';
export { runWorker, type RunWorkerOptions } from './run-worker.ts';
export { createWorkerRedis, type WorkerRedisOptions } from './worker-redis.ts';
