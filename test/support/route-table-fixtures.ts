// Builders for validated route tables in unit tests of the pure core: every default filled in, as src/config would.

import { DEFAULT_ROLLOUT } from '../../src/config/routes-schema.ts';
import type {
  RolloutPolicy,
  RouteConfig,
  RouteTable,
  StickinessSource,
  UpstreamConfig,
} from '../../src/config/types.ts';

/** The loader's defaults, except minSamples 50: the figure the pure-core tests were written against. */
export const TEST_ROLLOUT: RolloutPolicy = { ...DEFAULT_ROLLOUT, minSamples: 50 };

export interface RouteSpec {
  id: string;
  path: string;
  methods?: string[] | null;
  service?: string;
  flag?: string | null;
  mode?: RouteConfig['mode'];
}

export function testRoute(spec: RouteSpec, line = 1): RouteConfig {
  return {
    id: spec.id,
    path: spec.path,
    methods: spec.methods ?? null,
    service: spec.service ?? 'agents',
    flag: spec.flag === undefined ? `raptorflow.${spec.id}` : spec.flag,
    mode: spec.mode ?? 'canary',
    adapter: null,
    rollout: TEST_ROLLOUT,
    line,
  };
}

function upstream(name: string, url: string): UpstreamConfig {
  return {
    name,
    url,
    origin: url,
    basePath: '',
    connectTimeoutMs: 1_000,
    headersTimeoutMs: 10_000,
    bodyTimeoutMs: 0,
    host: { kind: 'preserve' },
    rewriteLocation: false,
    connections: 16,
  };
}

export function testTable(
  routes: readonly RouteSpec[],
  stickiness: readonly StickinessSource[] = [{ kind: 'header', name: 'x-user-id' }, { kind: 'ip' }],
): RouteTable {
  return {
    version: 1,
    upstreams: new Map([
      ['monolith', upstream('monolith', 'http://127.0.0.1:3001')],
      ['agents', upstream('agents', 'http://127.0.0.1:3002')],
    ]),
    legacy: 'monolith',
    stickiness,
    rollout: TEST_ROLLOUT,
    routes: routes.map((r, i) => testRoute(r, i + 1)),
    trustedProxies: ['127.0.0.1/8'],
    override: { header: 'x-edge-route', cookie: 'edge_route' },
    limits: { maxUrlLength: 8192, maxHeaderBytes: 16384 },
    hash: 'abcdef012345',
    source: 'routes.yaml',
  };
}
