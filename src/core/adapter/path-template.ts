// Path templates on both sides of an adapter: the old contract's `/api/agents/:id` (find-my-way's `:param`, as in
// routes.yaml) captures segments, the service's `/v2/agents/{id}` (RFC 6570 level 1, as OpenAPI writes paths) puts
// them back. Captured values stay percent-encoded: the bytes the client sent are the bytes the service gets.

export type MatchSegment =
  | { readonly kind: 'static'; readonly text: string }
  | { readonly kind: 'param'; readonly name: string };

export interface PathMatcher {
  readonly segments: readonly MatchSegment[];
  readonly params: readonly string[];
}

export type ExpandPart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'param'; readonly name: string };

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `/api/agents/:id`; returns the problem in words when it is not a template. */
export function parseMatchTemplate(template: string): PathMatcher | string {
  if (!template.startsWith('/')) return `"${template}" must start with "/"`;
  const segments: MatchSegment[] = [];
  const params: string[] = [];
  for (const part of template.slice(1).split('/')) {
    if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!PARAM_NAME.test(name)) return `"${template}": ":${name}" is not a parameter name (letters, digits, _)`;
      if (params.includes(name)) return `"${template}": parameter ":${name}" appears twice`;
      params.push(name);
      segments.push({ kind: 'param', name });
    } else if (part.includes(':') || part.includes('*') || part.includes('{')) {
      return `"${template}": a segment is either static text or a whole ":name" capture`;
    } else segments.push({ kind: 'static', text: part });
  }
  return { segments, params };
}

/** The captures of `path` (raw, percent-encoded) when it matches, else null. A capture never spans a "/". */
export function matchPath(matcher: PathMatcher, path: string): Record<string, string> | null {
  const parts = path.slice(1).split('/');
  if (!path.startsWith('/') || parts.length !== matcher.segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const segment = matcher.segments[i] as MatchSegment;
    const part = parts[i] as string;
    if (segment.kind === 'static') {
      if (segment.text !== part) return null;
    } else {
      if (part === '') return null;
      params[segment.name] = part;
    }
  }
  return params;
}

/** `/v2/agents/{id}`; returns the problem in words when a `{…}` is malformed. */
export function parseExpandTemplate(template: string): ExpandPart[] | string {
  const parts: ExpandPart[] = [];
  let rest = template;
  while (rest !== '') {
    const open = rest.indexOf('{');
    if (open === -1) {
      if (rest.includes('}')) return `"${template}": "}" without "{"`;
      parts.push({ kind: 'text', text: rest });
      break;
    }
    if (open > 0) {
      const text = rest.slice(0, open);
      if (text.includes('}')) return `"${template}": "}" without "{"`;
      parts.push({ kind: 'text', text });
    }
    const close = rest.indexOf('}', open);
    if (close === -1) return `"${template}": "{" without "}"`;
    const name = rest.slice(open + 1, close);
    if (!PARAM_NAME.test(name)) return `"${template}": "{${name}}" is not a parameter name`;
    parts.push({ kind: 'param', name });
    rest = rest.slice(close + 1);
  }
  return parts;
}

export function templateParams(parts: readonly ExpandPart[]): string[] {
  return parts.flatMap((p) => (p.kind === 'param' ? [p.name] : []));
}

export function expandTemplate(parts: readonly ExpandPart[], params: Readonly<Record<string, string>>): string {
  let out = '';
  for (const part of parts) out += part.kind === 'text' ? part.text : (params[part.name] ?? '');
  return out;
}

/**
 * Matches a whole value against an expand template used backwards (`/v2/agents/{id}` reading `/v2/agents/agt_1`),
 * for response headers such as Location. A capture takes at least one character and never a "/".
 */
export function matchExpandTemplate(parts: readonly ExpandPart[], value: string): Record<string, string> | null {
  const params: Record<string, string> = {};
  const go = (index: number, at: number): boolean => {
    if (index === parts.length) return at === value.length;
    const part = parts[index] as ExpandPart;
    if (part.kind === 'text') return value.startsWith(part.text, at) && go(index + 1, at + part.text.length);
    for (let end = at + 1; end <= value.length; end++) {
      if (value[end - 1] === '/') break;
      params[part.name] = value.slice(at, end);
      if (go(index + 1, end)) return true;
    }
    return false;
  };
  return go(0, 0) ? params : null;
}
