// ETags across an adapter. The body a v1 client gets is not the bytes the service sent, so the service's tag cannot
// be passed on as is (a strong tag promises those bytes), and a recomputed one would make every revalidation cost a
// full answer. The edge derives its tag from the service's instead: `"<service tag>-rfa<adapter version>"`, and
// turns a client's tag back into the service's on the way in, so the service's own 304 and 412 answer v1 clients.
// The translation is a function of the service's representation and the adapter's version, so the derived tag names
// exactly one client representation; an adapter edit changes the version and every old tag stops matching.

const SUFFIX = '-rfa';

/** `"abc"` → `"abc-rfa<version>"`, `W/"abc"` → `W/"abc-rfa<version>"`; anything unparseable is dropped (null). */
export function deriveEtag(tag: string, version: string): string | null {
  const m = /^(W\/)?"([^"]*)"$/.exec(tag.trim());
  if (m === null) return null;
  return `${m[1] ?? ''}"${m[2]}${SUFFIX}${version}"`;
}

/**
 * An If-None-Match / If-Match list with derived tags turned back into the service's. Tags derived under another
 * adapter version can match nothing the service holds, so they are left as they are (the service then answers in
 * full, or 412); `*` and tags the edge did not make pass unchanged.
 */
export function serviceEtags(header: string, version: string): string {
  const own = `${SUFFIX}${version}"`;
  return header
    .split(',')
    .map((part) => {
      const tag = part.trim();
      return tag.endsWith(own) ? `${tag.slice(0, tag.length - own.length)}"` : tag;
    })
    .join(', ');
}
