// Per-request metrics whose cost is paid when Prometheus scrapes, not on every request. prom-client's
// `counter.labels(…).inc()` hashes the label object on every call, and a histogram child does the same plus a bucket
// search: a few µs per request on the hot path. Here a child is a plain object the caller keeps (looked up once per
// label combination); a request adds to numbers in it, and `get()` turns them into prom-client's metric shape at
// scrape time, so the registry renders the same names, labels, buckets and text as a prom-client metric would.

import type { Registry } from 'prom-client';

interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels?: Record<string, string>;
  readonly value: number;
  readonly metricName?: string;
}

interface MetricData {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly values: MetricValue[];
  readonly aggregator: 'sum';
}

interface FamilyOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registers: readonly Registry[];
}

function labelObject(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) out[names[i]!] = values[i] ?? '';
  return out;
}

export class CounterChild {
  readonly labels: Record<string, string>;
  value = 0;

  constructor(labels: Record<string, string>) {
    this.labels = labels;
  }

  inc(by = 1): void {
    this.value += by;
  }
}

/** A counter family (type counter), children kept by the caller. */
export class ScrapeTimeCounter<L extends string> {
  name: string;
  readonly help: string;
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly L[];
  readonly #children = new Map<string, CounterChild>();

  constructor(options: FamilyOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames;
    // prom-client's registry accepts any object with name/help/type/get(); its own metrics register the same way.
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  /** The child for these label values, in labelNames order (create once, keep it: lookups cost a join). */
  labels(...values: string[]): CounterChild {
    const key = values.join('\u0000');
    let child = this.#children.get(key);
    if (child === undefined) {
      child = new CounterChild(labelObject(this.#labelNames, values));
      this.#children.set(key, child);
    }
    return child;
  }

  /** Convenience for rare paths: `inc({ label: value })`. */
  inc(labels: Partial<Record<L, string>>): void {
    this.labels(...this.#labelNames.map((n) => labels[n] ?? '')).inc();
  }

  async get(): Promise<MetricData> {
    const values: MetricValue[] = [];
    for (const child of this.#children.values()) values.push({ labels: child.labels, value: child.value });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.#children.clear();
  }
}

export class HistogramChild {
  readonly labels: Record<string, string>;
  readonly #bounds: readonly number[];
  /** Per bucket (not cumulative; the last one is +Inf only). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** A histogram family (type histogram) rendered as prom-client renders its own: cumulative `le` buckets, sum, count. */
export class ScrapeTimeHistogram<L extends string> {
  name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly L[];
  readonly #bounds: readonly number[];
  readonly #children = new Map<string, HistogramChild>();

  constructor(options: FamilyOptions<L> & { readonly buckets: readonly number[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  labels(...values: string[]): HistogramChild {
    const key = values.join('\u0000');
    let child = this.#children.get(key);
    if (child === undefined) {
      child = new HistogramChild(labelObject(this.#labelNames, values), this.#bounds);
      this.#children.set(key, child);
    }
    return child;
  }

  /** What the registry renders as text: bucket values carry `le`, the child's labels ride as shared labels. */
  async getForPromString(): Promise<MetricData> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const child of this.#children.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += child.counts[i]!;
        values.push({
          labels: { le: this.#bounds[i]! },
          sharedLabels: child.labels,
          value: cumulative,
          metricName: bucket,
        });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: child.labels, value: child.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: child.labels, value: child.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: child.labels, value: child.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (registry.getMetricsAsJSON): labels merged, as prom-client's histogram returns them. */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    const values = data.values.map((v) => ({
      labels: { ...v.sharedLabels, ...v.labels },
      value: v.value,
      ...(v.metricName === undefined ? {} : { metricName: v.metricName }),
    }));
    return { ...data, values };
  }

  reset(): void {
    this.#children.clear();
  }
}
