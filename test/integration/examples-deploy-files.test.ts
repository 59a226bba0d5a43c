// The docker-compose stack is wired consistently: names, ports, mounted files and metric names agree across
// docker-compose.yml, the Dockerfile, deploy/ and the code. (`docker-compose config -q` checks the schema; this
// checks what the schema cannot: that the pieces point at each other correctly.)
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadEnv } from '../../src/config/env.ts';
import { parseRouteTable } from '../../src/config/load-route-table.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const readYaml = (path: string): unknown => parse(read(path), { merge: true });

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  build?: string;
  image?: string;
}
interface RouteTableYaml {
  upstreams: Record<string, { url: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

const compose = readYaml('docker-compose.yml') as { services: Record<string, ComposeService> };
const services = compose.services;
const service = (name: string): ComposeService => {
  const found = services[name];
  assert.ok(found, `docker-compose.yml has no service "${name}"`);
  return found;
};
/** Where the image's WORKDIR files come from: the repository, except paths under a bind mount. */
const APP_DIR = '/app/';

describe('docker-compose.yml', () => {
  test('runs the edge, both examples, Unleash with its database, PostgreSQL, Redis, Prometheus and Grafana', () => {
    for (const name of [
      'rf-edge',
      'monolith',
      'agents',
      'unleash',
      'unleash-db',
      'postgres',
      'redis',
      'prometheus',
      'grafana',
    ]) {
      service(name);
    }
  });

  test('gives the edge every setting of the public contract', () => {
    const env = service('rf-edge').environment ?? {};
    for (const key of [
      'PORT',
      'ADMIN_PORT',
      'ROUTES_FILE',
      'FLAGS_DIR',
      'REDIS_URL',
      'DATABASE_URL',
      'UNLEASH_URL',
      'UNLEASH_API_TOKEN',
      'ADMIN_TOKEN',
    ]) {
      assert.ok(env[key], `rf-edge has no ${key}`);
    }
    assert.match(env['REDIS_URL'] ?? '', /^redis:\/\/redis:6379$/);
    const database = new URL(env['DATABASE_URL'] ?? '');
    const postgresEnv = service('postgres').environment ?? {};
    assert.equal(database.hostname, 'postgres');
    assert.equal(database.username, postgresEnv['POSTGRES_USER']);
    assert.equal(database.password, postgresEnv['POSTGRES_PASSWORD']);
    assert.equal(database.pathname, `/${postgresEnv['POSTGRES_DB']}`);
    assert.equal(new URL(env['UNLEASH_URL'] ?? '').host, 'unleash:4242');
    assert.equal(env['UNLEASH_API_TOKEN'], service('unleash').environment?.['INIT_BACKEND_API_TOKENS']);
    assert.equal(env['UNLEASH_ADMIN_TOKEN'], service('unleash').environment?.['INIT_ADMIN_API_TOKENS']);
  });

  test('the edge accepts its compose environment (interpolation defaults applied)', () => {
    const raw = service('rf-edge').environment ?? {};
    // Compose substitutes `${NAME:-default}`; with nothing set in the shell, the default is what the edge gets.
    const resolved = Object.fromEntries(
      Object.entries(raw).map(([key, value]) => [key, value.replace(/\$\{\w+:-([^}]*)\}/g, '$1')]),
    );
    const env = loadEnv(resolved);
    assert.equal(env.ADMIN_PORT, 9090);
    assert.equal(env.UNLEASH_URL, 'http://unleash:4242/api');
    assert.equal(env.REDIS_URL, 'redis://redis:6379');
  });

  test('every dependency exists, and "healthy" is only awaited from services with a healthcheck', () => {
    for (const [name, spec] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(spec.depends_on ?? {})) {
        const target = services[dependency];
        assert.ok(target, `${name} depends on unknown service ${dependency}`);
        if (condition === 'service_healthy') assert.ok(target.healthcheck, `${dependency} has no healthcheck`);
      }
      if (name !== 'flags-push') assert.ok(spec.healthcheck, `${name} has no healthcheck`);
    }
  });

  test('mounted host paths exist in the repository', () => {
    for (const [name, spec] of Object.entries(services)) {
      for (const volume of spec.volumes ?? []) {
        const [source = ''] = volume.split(':');
        if (source.startsWith('./')) assert.ok(existsSync(join(root, source)), `${name} mounts missing ${source}`);
      }
    }
  });

  test('the image-based services run files that exist, from the image built here', () => {
    for (const name of ['rf-edge', 'monolith', 'agents', 'flags-push']) {
      const spec = service(name);
      assert.equal(spec.build, '.', name);
      const script = spec.command?.find((part) => part.endsWith('.ts') || part === 'bin/rf-edge');
      assert.ok(script && existsSync(join(root, script)), `${name} runs ${script}`);
    }
  });

  test('the edge reads its route table and flags from files the stack provides', () => {
    const env = service('rf-edge').environment ?? {};
    for (const key of ['ROUTES_FILE', 'FLAGS_DIR', 'ADAPTERS_DIR']) {
      const path = env[key] ?? '';
      assert.ok(path.startsWith(APP_DIR), `${key} is under the image's WORKDIR`);
      assert.ok(existsSync(join(root, path.slice(APP_DIR.length))), `${key} ${path} exists`);
    }
    assert.equal(env['ROUTES_FILE'], '/app/deploy/routes.compose.yaml');
  });

  test('the examples listen where the compose route table sends traffic', () => {
    const table = readYaml('deploy/routes.compose.yaml') as RouteTableYaml;
    for (const [name, upstream] of Object.entries(table.upstreams)) {
      const url = new URL(upstream.url);
      const target = services[url.hostname];
      assert.ok(target, `upstream ${name} points at unknown service ${url.hostname}`);
      assert.equal(target.environment?.['PORT'], url.port, `upstream ${name} port`);
      assert.equal(target.environment?.['HOST'], '0.0.0.0', `${url.hostname} listens beyond its own loopback`);
    }
  });
});

describe('deploy/routes.compose.yaml', () => {
  test('holds the same table as routes.yaml, only the upstream URLs differ', () => {
    const compose = readYaml('deploy/routes.compose.yaml') as RouteTableYaml;
    const local = readYaml('routes.yaml') as RouteTableYaml;
    const withoutUrls = (table: RouteTableYaml) => ({
      ...table,
      upstreams: Object.fromEntries(
        Object.entries(table.upstreams).map(([name, { url: _url, ...rest }]) => [name, rest]),
      ),
    });
    assert.deepEqual(withoutUrls(compose), withoutUrls(local));
  });

  test('passes the edge route table validation, every flag it names defined in flags/', () => {
    const flags = JSON.parse(read('flags/raptorflow.json')) as { features: { name: string }[] };
    const result = parseRouteTable(read('deploy/routes.compose.yaml'), 'deploy/routes.compose.yaml', {
      knownFlags: new Set(flags.features.map((feature) => feature.name)),
    });
    assert.deepEqual(result.ok ? [] : result.problems, []);
    assert.ok(result.ok);
    assert.deepEqual(
      [...result.table.upstreams.values()].map((upstream) => upstream.origin),
      ['http://monolith:3001', 'http://agents:3002'],
    );
  });
});

describe('monitoring', () => {
  test('Prometheus scrapes the edge admin listener', () => {
    const config = readYaml('deploy/prometheus.yml') as {
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const job = config.scrape_configs.find((scrape) => scrape.job_name === 'rf-edge');
    assert.ok(job);
    assert.equal(job.metrics_path ?? '/metrics', '/metrics');
    assert.deepEqual(
      job.static_configs.flatMap((entry) => entry.targets),
      [`rf-edge:${service('rf-edge').environment?.['ADMIN_PORT']}`],
    );
    const edgeEnv = service('rf-edge').environment ?? {};
    assert.equal(edgeEnv['ADMIN_HOST'], '0.0.0.0', 'the admin listener is reachable from the Prometheus container');
  });

  test('Grafana is provisioned with the Prometheus service as its datasource', () => {
    const provisioning = readYaml('deploy/grafana/provisioning/datasources/prometheus.yml') as {
      datasources: { type: string; url: string; uid: string }[];
    };
    const [datasource] = provisioning.datasources;
    assert.equal(datasource?.type, 'prometheus');
    assert.equal(new URL(datasource?.url ?? '').hostname, 'prometheus');
    const dashboard = JSON.parse(read('deploy/grafana/dashboards/rf-edge.json')) as {
      panels: { datasource: { uid: string } }[];
    };
    for (const panel of dashboard.panels) assert.equal(panel.datasource.uid, datasource?.uid);
  });

  test('the dashboard only queries metrics the edge registers', () => {
    const registered = new Set(
      [...read('src/adapters/metrics.ts').matchAll(/name: '(rf_edge_\w+)'/g)].map((m) => m[1]),
    );
    const queried = new Set(
      [...read('deploy/grafana/dashboards/rf-edge.json').matchAll(/rf_edge_\w+/g)].map((m) =>
        m[0].replace(/_(bucket|sum|count)$/, ''),
      ),
    );
    assert.ok(queried.size >= 8);
    for (const metric of queried) assert.ok(registered.has(metric), `${metric} is not registered in metrics.ts`);
  });
});

describe('Dockerfile', () => {
  test('builds on node:20-slim with production dependencies only, which include tsx', () => {
    const dockerfile = read('Dockerfile');
    assert.match(dockerfile, /^FROM node:20-slim$/m);
    assert.match(dockerfile, /npm ci --omit=dev/);
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    assert.ok(pkg.dependencies['tsx'], 'tsx runs the sources in the image, so it must be a production dependency');
  });

  test('.dockerignore keeps everything the containers run', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const needed of [
      'src',
      'bin',
      'examples',
      'flags',
      'deploy',
      'routes.yaml',
      'package.json',
      'package-lock.json',
    ]) {
      assert.ok(!ignored.includes(needed), `${needed} is excluded from the build context`);
    }
  });
});
