// Durations as people write them in routes.yaml (`250ms`, `60s`, `5m`, `1h`, `1m30s`) and as the code keeps them
// (integer milliseconds). A bare number is already milliseconds, so `timeoutMs: 1500` and `window: 1500` agree.

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
/** Largest first: `1m30s` is accepted, `30s1m` is not (it is almost certainly a typo). */
const UNIT_ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];

// `ms` must be tried before `m`, or `250ms` would read as 250 minutes followed by garbage.
const PART = /(\d+(?:\.\d+)?)(ms|d|h|m|s)/y;

/**
 * Milliseconds in `text`, or null when it is not a duration. Negative, fractional-millisecond and unit-less strings
 * other than plain digits are refused; whether 0 is acceptable is the caller's rule.
 */
export function parseDuration(text: string | number): number | null {
  if (typeof text === 'number') {
    return Number.isSafeInteger(text) && text >= 0 ? text : null;
  }
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (/^\d+$/.test(trimmed)) {
    const ms = Number(trimmed);
    return Number.isSafeInteger(ms) ? ms : null;
  }
  PART.lastIndex = 0;
  let total = 0;
  let lastRank = -1;
  let match: RegExpExecArray | null = PART.exec(trimmed);
  while (match !== null) {
    const unit = match[2] as Unit;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= lastRank) return null;
    lastRank = rank;
    total += Number(match[1]) * UNIT_MS[unit];
    if (PART.lastIndex === trimmed.length) {
      // Float arithmetic (`1.1s`) can land a hair off an integer; anything further off is a sub-millisecond value.
      const rounded = Math.round(total);
      return Math.abs(rounded - total) < 1e-6 && Number.isSafeInteger(rounded) ? rounded : null;
    }
    match = PART.exec(trimmed);
  }
  return null;
}

/** The shortest form `parseDuration` reads back to the same value: 90000 → `1m30s`, 250 → `250ms`, 0 → `0ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return `${ms}ms`;
  let rest = Math.round(ms);
  if (rest === 0) return '0ms';
  let out = '';
  for (const unit of UNIT_ORDER) {
    const size = UNIT_MS[unit];
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}
