// Bodies an adapter translates: decoded from the content-coding they came in (gzip, deflate, br), parsed as JSON,
// and, once translated, serialised and encoded again in the same coding. The service chose that coding from the
// client's own Accept-Encoding (forwarded unchanged), so it is one the client asked for. Decoding is bounded by the
// adapter's maxBodyBytes, so a small compressed body cannot inflate into a large one (a decompression bomb).

import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  deflateSync,
  gunzipSync,
  gzipSync,
  inflateRawSync,
  inflateSync,
} from 'node:zlib';
import type { JsonValue } from '../core/adapter/types.ts';

export type Coding = 'identity' | 'gzip' | 'deflate' | 'br';

/** The coding named by a Content-Encoding value; null for anything else (several codings, compress, zstd…). */
export function codingOf(value: string | undefined): Coding | null {
  if (value === undefined) return 'identity';
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'identity') return 'identity';
  if (v === 'gzip' || v === 'x-gzip') return 'gzip';
  if (v === 'deflate' || v === 'br') return v;
  return null;
}

/** JSON media types: application/json and any `+json` suffix (RFC 6839). */
export function isJsonType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const type = (value.split(';')[0] ?? '').trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

export class BodyTooLarge extends Error {}

/** Decodes `bytes`; throws BodyTooLarge past `max` decoded bytes, or zlib's error for a corrupt body. */
export function decodeBody(bytes: Buffer, coding: Coding, max: number): Buffer {
  const limit = { maxOutputLength: max + 1 };
  let out: Buffer;
  try {
    switch (coding) {
      case 'identity':
        out = bytes;
        break;
      case 'gzip':
        out = gunzipSync(bytes, limit);
        break;
      case 'br':
        out = brotliDecompressSync(bytes, limit);
        break;
      case 'deflate':
        // RFC 9110 §8.4.1.2 says zlib-wrapped; some servers send raw deflate. Both are read.
        try {
          out = inflateSync(bytes, limit);
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw err;
          out = inflateRawSync(bytes, limit);
        }
        break;
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyTooLarge();
    throw err;
  }
  if (out.length > max) throw new BodyTooLarge();
  return out;
}

export function encodeBody(bytes: Buffer, coding: Coding): Buffer {
  switch (coding) {
    case 'identity':
      return bytes;
    case 'gzip':
      return gzipSync(bytes);
    case 'deflate':
      return deflateSync(bytes);
    case 'br':
      // Quality 4: brotli's default (11) costs tens of ms on a 1 MiB body, a price per request here.
      return brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } });
  }
}

/** Parses a UTF-8 JSON body; undefined when it is not JSON. An empty body is undefined too. */
export function parseJson(bytes: Buffer): JsonValue | undefined {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as JsonValue;
  } catch {
    return undefined;
  }
}
