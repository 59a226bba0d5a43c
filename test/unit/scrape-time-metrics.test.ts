// The scrape-time metric families must render exactly what prom-client's own Counter and Histogram render for the
// same observations: same names, HELP/TYPE, labels, cumulative buckets, sum and count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { ScrapeTimeCounter, ScrapeTimeHistogram } from '../../src/adapters/scrape-time-metrics.ts';

const labelNames = ['route', 'target', 'method', 'status_class'] as const;
const buckets = [0.001, 0.01, 0.1, 1];
const observations: Array<[string[], number]> = [
  [['a', 'service', 'GET', '2xx'], 0.0004],
  [['a', 'service', 'GET', '2xx'], 0.001],
  [['a', 'service', 'GET', '2xx'], 0.05],
  [['-', 'legacy', 'POST', '5xx'], 3],
  [['a', 'legacy', 'GET', '2xx'], 0.2],
  [['a', 'service', 'GET', '2xx'], 0.7],
];

function pair() {
  const reference = new Registry();
  const fast = new Registry();
  const common = { help: 'Requests proxied', labelNames };
  return {
    reference,
    fast,
    refCounter: new Counter({ name: 'x_requests_total', ...common, registers: [reference] }),
    refHistogram: new Histogram({ name: 'x_duration_seconds', ...common, buckets, registers: [reference] }),
    fastCounter: new ScrapeTimeCounter({ name: 'x_requests_total', ...common, registers: [fast] }),
    fastHistogram: new ScrapeTimeHistogram({ name: 'x_duration_seconds', ...common, buckets, registers: [fast] }),
  };
}

test('scrape-time counter and histogram render the same text as prom-client', async () => {
  const m = pair();
  for (const [labels, seconds] of observations) {
    m.refCounter.labels(...labels).inc();
    m.refHistogram.labels(...labels).observe(seconds);
    m.fastCounter.labels(...labels).inc();
    m.fastHistogram.labels(...labels).observe(seconds);
  }
  const text = await m.fast.metrics();
  assert.equal(text, await m.reference.metrics());
  assert.match(
    text,
    /x_duration_seconds_bucket\{le="0.001",route="a",target="service",method="GET",status_class="2xx"\} 2/,
  );
  assert.match(text, /x_requests_total\{route="a",target="service",method="GET",status_class="2xx"\} 4/);
});

test('the JSON form merges labels as prom-client does', async () => {
  const m = pair();
  for (const [labels, seconds] of observations) {
    m.refHistogram.labels(...labels).observe(seconds);
    m.fastHistogram.labels(...labels).observe(seconds);
  }
  const sort = (json: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
    json.map((metric) => ({
      ...metric,
      values: [...metric.values].map((v) => ({
        labels: v.labels,
        value: v.value,
        metricName: (v as { metricName?: string }).metricName,
      })),
    }));
  const ref = sort(await m.reference.getMetricsAsJSON()).filter((x) => x.name === 'x_duration_seconds');
  const fast = sort(await m.fast.getMetricsAsJSON()).filter((x) => x.name === 'x_duration_seconds');
  assert.deepEqual(fast, ref);
});

test('a counter with nothing counted renders HELP and TYPE only, like prom-client', async () => {
  const m = pair();
  assert.equal(await m.fast.metrics(), await m.reference.metrics());
});
