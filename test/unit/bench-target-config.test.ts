import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { describePinning, planPinning } from '../../bench/cpu-pinning.ts';
import { prepareRequests } from '../../bench/load-generator.ts';
import { benchBody } from '../../bench/servers/bench-body.ts';
import { nginxConf } from '../../bench/targets/nginx.ts';
import { benchRoutesYaml, RF_EDGE_BENCH_PATHS, sumPrometheusCounter } from '../../bench/targets/rf-edge.ts';
import { parseRouteTable } from '../../src/config/load-route-table.ts';
import { compileRoutes } from '../../src/core/route-matcher.ts';

const flagsDocument = JSON.parse(readFileSync(new URL('../../flags/raptorflow.json', import.meta.url), 'utf8')) as {
  features: { name: string }[];
};

describe('the route table the bench gives rf-edge', () => {
  const result = parseRouteTable(benchRoutesYaml('http://127.0.0.1:40123'), 'bench-routes.yaml', {
    knownFlags: new Set(flagsDocument.features.map((f) => f.name)),
  });

  test('passes rf-edge’s own validation, with the flags the repository ships', () => {
    assert.deepEqual(result.ok ? [] : result.problems, []);
  });

  test('sends both bench paths through one canary route, so every request is decided', () => {
    assert.ok(result.ok);
    const matcher = compileRoutes(result.table.routes);
    for (const path of [RF_EDGE_BENCH_PATHS.service, RF_EDGE_BENCH_PATHS.legacy]) {
      const route = matcher.match('GET', path);
      assert.equal(route?.id, 'bench-canary', path);
      assert.equal(route?.mode, 'canary');
      assert.equal(route?.flag, 'raptorflow.agents-read');
    }
    assert.deepEqual(result.table.stickiness, [{ kind: 'header', name: 'x-user-id' }, { kind: 'ip' }]);
  });

  test('the upstream answers about 1 KB of JSON', () => {
    const body = benchBody();
    assert.ok(body.length >= 900 && body.length <= 1100, `${body.length} bytes`);
    assert.doesNotThrow(() => JSON.parse(body.toString()));
  });

  test('points both upstreams at the one bench upstream, so every target answers alike', () => {
    assert.ok(result.ok);
    assert.deepEqual(
      [...result.table.upstreams.values()].map((u) => [u.name, u.origin]),
      [
        ['monolith', 'http://127.0.0.1:40123'],
        ['service', 'http://127.0.0.1:40123'],
      ],
    );
    assert.equal(result.table.legacy, 'monolith');
  });
});

describe('the nginx configuration the bench writes', () => {
  const conf = nginxConf({
    prefix: 'PREFIX/nginx',
    listenPort: 40200,
    upstreamHostPort: '127.0.0.1:40123',
    upstreamKeepalive: 64,
  });

  test('one foreground process, no access log, bound to loopback only', () => {
    assert.match(conf, /^daemon off;$/m);
    assert.match(conf, /^master_process off;$/m);
    assert.match(conf, /^worker_processes 1;$/m);
    assert.match(conf, /^\s*access_log off;$/m);
    assert.match(conf, /^\s*listen 127\.0\.0\.1:40200;$/m);
  });

  test('keeps connections to the upstream alive (HTTP/1.1, Connection cleared)', () => {
    assert.match(conf, /server 127\.0\.0\.1:40123;\s+keepalive 64;/);
    assert.match(conf, /proxy_http_version 1\.1;/);
    assert.match(conf, /proxy_set_header Connection "";/);
  });

  test('writes nothing outside its prefix: pid, error log and every temp path', () => {
    const fileDirectives = [...conf.matchAll(/^\s*(pid|error_log|\w+_temp_path) (\S+?);?(?: \w+)?;?$/gm)];
    assert.deepEqual(
      fileDirectives.map((m) => m[1]),
      [
        'pid',
        'error_log',
        'client_body_temp_path',
        'proxy_temp_path',
        'fastcgi_temp_path',
        'uwsgi_temp_path',
        'scgi_temp_path',
      ],
    );
    for (const m of fileDirectives) assert.ok(m[2]?.startsWith('PREFIX/nginx/'), m[0]);
  });
});

describe('load generator request mix', () => {
  test('every path once per user, in a fixed order', () => {
    const requests = prepareRequests({ paths: ['/a', '/b'], users: 2 });
    assert.deepEqual(requests, [
      { path: '/a', headers: { 'x-user-id': 'bench-user-0' } },
      { path: '/b', headers: { 'x-user-id': 'bench-user-0' } },
      { path: '/a', headers: { 'x-user-id': 'bench-user-1' } },
      { path: '/b', headers: { 'x-user-id': 'bench-user-1' } },
    ]);
  });

  test('users 0: no x-user-id header at all', () => {
    assert.deepEqual(prepareRequests({ paths: ['/a'], users: 0 }), [{ path: '/a', headers: {} }]);
  });
});

describe('reading rf-edge’s request counter from /metrics', () => {
  test('sums every label set of the counter and nothing else', () => {
    const text = [
      '# HELP rf_edge_requests_total Requests proxied',
      '# TYPE rf_edge_requests_total counter',
      'rf_edge_requests_total{route="bench-service",target="service",method="GET",status_class="2xx"} 1200',
      'rf_edge_requests_total{route="",target="legacy",method="GET",status_class="2xx"} 1199',
      'rf_edge_requests_total_other 5',
      'rf_edge_request_duration_seconds_count{route="x"} 77',
      '',
    ].join('\n');
    assert.equal(sumPrometheusCounter(text, 'rf_edge_requests_total'), 2399);
  });

  test('a counter that is absent sums to 0', () => {
    assert.equal(sumPrometheusCounter('up 1\n', 'rf_edge_requests_total'), 0);
  });
});

describe('CPU pinning plan', () => {
  test('with taskset and two CPUs: proxies on CPU 0, the rest on CPU 1', () => {
    assert.deepEqual(planPinning(2, '/usr/bin/taskset'), { taskset: '/usr/bin/taskset', proxy: '0', rest: '1' });
    assert.deepEqual(planPinning(8, '/usr/bin/taskset')?.rest, '1-7');
  });

  test('no taskset or a single CPU: nothing pinned, and the report says so', () => {
    assert.equal(planPinning(2, null), null);
    assert.equal(planPinning(1, '/usr/bin/taskset'), null);
    assert.match(describePinning(null), /not pinned/);
  });
});
