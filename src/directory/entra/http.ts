// One HTTPS exchange on node:https, for the sign-in endpoint and Graph alike. Node's fetch takes no
// CA per request (only NODE_EXTRA_CA_CERTS for the whole process), and an operator behind a
// TLS-inspecting proxy, or a test with its own CA, needs one per source: so an Agent with Node's
// public CAs plus caFile, kept alive across the hundreds of pages a full read takes.
import { Agent, request } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { EntraSourceConfig } from '../../config/types.js';

export interface HttpAnswer {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  text: string;
}

export interface HttpExchange {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** The whole exchange, connect to last byte. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** No answer worth reading is this large (a 999-user page with extra properties is a few MB). */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** An agent trusting Node's public CAs and, when set, caFile's: both Microsoft's hosts and a proxy's work. */
export function entraAgent(config: Pick<EntraSourceConfig, 'ca'>): Agent {
  return new Agent({
    keepAlive: true,
    maxSockets: 16,
    ...(config.ca === undefined ? {} : { ca: [...rootCertificates, config.ca] }),
  });
}

/** A transport failure with a Node-style code, so callers tell timeouts from refusals. */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function send(agent: Agent, x: HttpExchange): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    if (x.signal?.aborted) {
      reject(abortError(x.signal));
      return;
    }
    const url = new URL(x.url);
    if (url.protocol !== 'https:') {
      reject(new TransportError(`refusing ${url.protocol} (only https is used)`, 'ERR_INVALID_PROTOCOL'));
      return;
    }
    const headers: Record<string, string> = { ...x.headers };
    if (x.body !== undefined) headers['content-length'] = String(Buffer.byteLength(x.body));
    const req = request(url, { method: x.method, agent, headers });
    let settled = false;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      x.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const timer = setTimeout(() => {
      const err = new TransportError(`no answer within ${x.timeoutMs} ms (timeoutMs)`, 'ETIMEDOUT');
      req.destroy(err);
      done(() => reject(err));
    }, x.timeoutMs);
    const onAbort = (): void => {
      const err = abortError(x.signal as AbortSignal);
      req.destroy(err);
      done(() => reject(err));
    };
    x.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => done(() => reject(err)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          const err = new TransportError(
            `answer larger than ${MAX_ANSWER_BYTES} bytes`,
            'ERR_ANSWER_TOO_LARGE',
          );
          req.destroy(err);
          done(() => reject(err));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => done(() => reject(err)));
      res.on('end', () => {
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
        }
        done(() =>
          resolve({
            status: res.statusCode ?? 0,
            headers: out,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
    });
    if (x.body !== undefined) req.write(x.body);
    req.end();
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  const text = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  const err = new Error(text);
  err.name = 'AbortError';
  return err;
}

/** Resolves after `ms`, or rejects as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff with jitter, never immediate: [base/2, base) doubling, capped. */
export function backoffMs(retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 1_000 * 2 ** Math.max(0, retry - 1));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}
