// Throwaway databases and key prefixes on the machine's real PostgreSQL and Redis, so test files running in
// parallel never see each other's data, and each cleans up after itself.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export const REDIS_HOST = process.env['TEST_REDIS_HOST'] ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env['TEST_REDIS_PORT'] ?? 6379);
export const PG_HOST = process.env['TEST_PG_HOST'] ?? '127.0.0.1';
export const PG_PORT = Number(process.env['TEST_PG_PORT'] ?? 5432);
export const PG_USER = process.env['TEST_PG_USER'] ?? 'postgres';

/** A Redis URL, optionally through another port (a TCP relay in front of Redis). */
export function redisUrl(port: number = REDIS_PORT, host: string = REDIS_HOST): string {
  return `redis://${host}:${port}`;
}

/** A key prefix no other test (or test run) uses, e.g. `rf-test:cas:1a2b3c4d:`. */
export function uniqueRedisPrefix(label: string): string {
  return `rf-test:${label}:${randomUUID().slice(0, 8)}:`;
}

/** Deletes every key under `prefix`. */
export async function deleteRedisKeys(prefix: string): Promise<number> {
  const client = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    await client.quit();
  }
  return deleted;
}

export interface TestDatabase {
  readonly name: string;
  /** Connection URL, optionally through another port (a TCP relay in front of PostgreSQL). */
  url(port?: number): string;
  /** Drops the database, closing any session still attached to it. */
  drop(): Promise<void>;
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: 'postgres' });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database named `rf_test_<label>_<random>`. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `rf_test_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomUUID().slice(0, 8)}`;
  await admin((client) => client.query(`CREATE DATABASE "${name}"`));
  return {
    name,
    url: (port = PG_PORT) => `postgres://${PG_USER}@${PG_HOST}:${port}/${name}`,
    drop: () => admin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/** Runs one query against a test database on a connection of its own (not the code under test's pool). */
export async function queryDatabase<R extends pg.QueryResultRow>(
  database: TestDatabase,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: database.url() });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
