// The request's own record, shared by the edge's pieces (admission, forwarding, response writing, the request line):
// the one decision, where it went, and what the log line, metrics and judge's outcome are made of.

import type { Socket } from 'node:net';
import type { UpstreamConfig } from '../config/types.ts';
import type { FailureStage } from '../core/fallback-policy.ts';
import type { Decision } from '../core/types.ts';
import type { LocationRewrite } from './forward-headers.ts';
import type { ShadowCopy } from './shadow-traffic.ts';
import type { UpstreamErrorKind } from './upstream-pools.ts';

/** Per upstream, everything the hot path needs, computed once per route table (table-plan). */
export interface UpstreamPlan {
  readonly config: UpstreamConfig;
  /** Host header for the upstream; null = the client's (policy `preserve`). */
  readonly host: string | null;
  /** Set when `rewriteLocation` is on. */
  readonly location: Omit<LocationRewrite, 'clientOrigin'> | null;
}

/** Per-connection slots, so that shared functions (no closure per request) find what they need. */
export const PEER = Symbol('rf-edge.peer');
export const BUSY = Symbol('rf-edge.busy');

/** The TCP peer of a connection, judged once per connection and route table (keep-alive makes that most requests). */
export interface PeerInfo {
  /** The compiled table this was judged against (a reload judges again). */
  readonly plan: object;
  readonly ip: string;
  readonly trusted: boolean;
}

export type TaggedSocket = Socket & { [PEER]?: PeerInfo; [BUSY]?: number };

export interface UpstreamFailure {
  readonly kind: UpstreamErrorKind;
  readonly err: unknown;
}

export class EdgeRequestState {
  readonly start: number;
  readonly id: string;
  readonly method: string;
  readonly socket: TaggedSocket;
  /** Raw path without the query (the query may hold secrets: it is not logged). */
  path = '-';
  decision: Decision | null = null;
  upstream: UpstreamPlan | null = null;
  /** Client-facing `proto://host`, for Location rewriting ('' when not needed or unknown). */
  clientOrigin = '';
  /** Set when the upstream failed (before or during the response). */
  upstreamError: UpstreamFailure | null = null;
  /** Why the edge refused the request itself (path-safety reason, uri_too_long…). */
  rejected: string | null = null;
  /** The copy sent to the service when the decision says shadow (and the request qualifies). */
  shadow: ShadowCopy | null = null;
  bytesAtStart: number;
  done = false;
  /**
   * performance.now() when the request went to the upstream, and when its response head came back: the judge
   * compares the upstream's own time (issue 9), not the edge's queueing or the body's streaming.
   */
  sentAt: number | null = null;
  headersAt: number | null = null;
  /** Set when the service failed this request and the monolith answered it instead: how far the service got. */
  fallback: FailureStage | null = null;

  constructor(start: number, id: string, method: string, socket: TaggedSocket) {
    this.start = start;
    this.id = id;
    this.method = method;
    this.socket = socket;
    this.bytesAtStart = socket.bytesWritten;
  }

  /** The Location rewrite for this request's upstream, or null. */
  locationRewrite(): LocationRewrite | null {
    const location = this.upstream?.location;
    return location && this.clientOrigin !== '' ? { ...location, clientOrigin: this.clientOrigin } : null;
  }
}
