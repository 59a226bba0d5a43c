// The client talking to the upstream itself: the floor every proxy's latency is compared with.
import type { Target } from './target.ts';
import type { Upstream } from './upstream.ts';

export function directTarget(upstream: Upstream): Target {
  return {
    name: 'direct',
    description: 'client → upstream (no proxy)',
    origin: upstream.origin,
    pid: null,
    evidence: async () => ({}),
    // The upstream outlives this target: every other target forwards to it.
    stop: async () => {},
  };
}
