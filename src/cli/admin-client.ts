// The CLI's way into a running edge: the admin API over HTTP, authenticated with ADMIN_TOKEN. Every command
// prints what the server answered; an error body `{ error: { code, message } }` becomes the message shown.
import { request } from 'undici';

export interface AdminClientOptions {
  baseUrl: string;
  token: string | undefined;
}

export class AdminCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdminCallError';
  }
}

/** `ADMIN_HOST:ADMIN_PORT` as the CLI should dial it (a wildcard bind address is dialled on loopback). */
export function adminBaseUrl(env: { ADMIN_HOST: string; ADMIN_PORT: number }, override?: string): string {
  if (override) return override.replace(/\/$/, '');
  const host = env.ADMIN_HOST === '0.0.0.0' || env.ADMIN_HOST === '::' ? '127.0.0.1' : env.ADMIN_HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${env.ADMIN_PORT}`;
}

export async function adminCall<T>(
  options: AdminClientOptions,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(`${options.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
  } catch (err) {
    throw new AdminCallError(
      0,
      'RF_ADMIN_UNREACHABLE',
      `cannot reach the edge's admin API at ${options.baseUrl}: ${
        (err as Error).message
      } (is the edge running? ADMIN_HOST/ADMIN_PORT or --admin-url)`,
    );
  }
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.statusCode >= 400) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new AdminCallError(res.statusCode, error?.code ?? `HTTP_${res.statusCode}`, error?.message ?? text);
  }
  return parsed as T;
}
