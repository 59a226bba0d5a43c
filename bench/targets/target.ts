// What the bench needs from each thing it loads: where to send requests, and which process's CPU is the proxy's.

export interface Target {
  /** Short name used in the table and the JSON: `direct`, `bare-http-proxy`, `nginx`, `rf-edge`. */
  readonly name: string;
  readonly description: string;
  /** e.g. `http://127.0.0.1:40123`. */
  readonly origin: string;
  /**
   * Paths this target is loaded with instead of the bench's shared ones (its answers are its own, not the
   * upstream's bytes): the adapted route. Absent for every target that relays the upstream as is.
   */
  readonly paths?: readonly string[];
  /** The proxy process (its descendants are counted too); null when nothing sits between client and upstream. */
  readonly pid: number | null;
  /** Facts gathered after the runs that show the target ran as claimed (log lines written, metrics counted). */
  evidence(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}
