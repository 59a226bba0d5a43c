// Picks the state store: Redis when REDIS_URL is set (many replicas share state), otherwise the embedded
// memory+file store (one process, nothing to install).
import { hostname } from 'node:os';
import type { Logger } from '../logger.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { EdgeStateStore } from './edge-state-store.ts';
import { createMemoryStateStore } from './memory-state-store.ts';
import { createRedisStateStore } from './redis-state-store.ts';

export type { EdgeStateStore } from './edge-state-store.ts';
export { createMemoryStateStore, type MemoryStateStoreOptions } from './memory-state-store.ts';
export {
  createRedisStateStore,
  type RedisStateStore,
  type RedisStateStoreDiagnostics,
  type RedisStateStoreOptions,
} from './redis-state-store.ts';

export const DEFAULT_REDIS_KEY_PREFIX = 'rf-edge:';

/** The environment variables the choice reads (a subset of the edge's parsed env). */
export interface StateStoreEnv {
  /** Empty or absent selects the embedded store. */
  readonly REDIS_URL?: string | undefined;
  /** Where the embedded store keeps rollout-state.json. */
  readonly DATA_DIR: string;
  /** Names this replica in pub/sub messages and Redis connection names. */
  readonly INSTANCE_ID?: string | undefined;
  /** Lets several fleets (or tests) share one Redis. Default `rf-edge:`. */
  readonly REDIS_KEY_PREFIX?: string | undefined;
}

export function createStateStore(options: {
  readonly env: StateStoreEnv;
  readonly log: Logger;
  readonly metrics: EdgeMetrics;
}): EdgeStateStore {
  const { env, log, metrics } = options;
  const redisUrl = env.REDIS_URL?.trim();
  if (redisUrl) {
    return createRedisStateStore({
      url: redisUrl,
      keyPrefix: env.REDIS_KEY_PREFIX || DEFAULT_REDIS_KEY_PREFIX,
      instanceId: env.INSTANCE_ID || `${hostname()}:${process.pid}`,
      log: log.child({ component: 'state', store: 'redis' }),
      metrics,
    });
  }
  return createMemoryStateStore({ dataDir: env.DATA_DIR, log: log.child({ component: 'state', store: 'memory' }) });
}
