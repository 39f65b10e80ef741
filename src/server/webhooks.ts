// POST /webhooks/resync: a signed "resync now" from anything that knows the shared secret (an HR
// system, a CI job, a directory's change hook). Checks run cheapest-first and before any parsing of
// the body, so an unauthenticated caller learns nothing about it and triggers nothing.
import type { FastifyInstance } from 'fastify';
import type { RunService } from '../daemon/types.js';
import {
  HttpError,
  mediaType,
  parseJson,
  parseWith,
  TriggerBody,
  UNAVAILABLE_HEADERS,
  UnavailableError,
} from './http.js';
import type { ClaimResult, ReplayStore } from './replay.js';
import { SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS, verifyWebhookSignature } from './signature.js';
import { requestRun } from './trigger.js';

export const WEBHOOK_BODY_LIMIT = 1024 * 1024;
const TRIGGER_DEADLINE_MS = 5_000;
const EMPTY = Buffer.alloc(0);

export interface ResyncWebhookOptions {
  secret: string;
  runs: RunService;
  replay: ReplayStore;
  /** False while the run service is unreachable: 503 before anything is recorded or queued. */
  available: () => boolean;
  now: () => number;
}

const REJECTIONS = {
  missing: `missing ${SIGNATURE_HEADER} header`,
  malformed: `malformed ${SIGNATURE_HEADER} header (expected t=<unix seconds>,v1=<hex>)`,
  stale: `signature timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} s old`,
  future: `signature timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} s in the future`,
  mismatch: 'signature does not match',
} as const;

function headerText(v: string | string[] | undefined): string | undefined {
  // Node joins repeated unknown headers; an array only comes from odd clients. Either way the
  // grammar check then fails on the duplicate `t`.
  return Array.isArray(v) ? v.join(',') : v;
}

/** Registered inside its own plugin scope: the raw-body parser must not affect other routes. */
export async function resyncWebhook(scope: FastifyInstance, opts: ResyncWebhookOptions): Promise<void> {
  scope.removeAllContentTypeParsers();
  // The signature covers the exact bytes, so the body stays a Buffer until it has been verified.
  scope.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT },
    (_req, body, done) => done(null, body),
  );
  // Before the body is read: a wrong type (or none) is refused without buffering up to 1 MiB.
  scope.addHook('onRequest', async (req) => {
    if (mediaType(req) !== 'application/json')
      throw new HttpError(415, 'unsupported_media_type', 'Content-Type must be application/json');
  });

  scope.post('/webhooks/resync', { bodyLimit: WEBHOOK_BODY_LIMIT }, async (req, reply) => {
    const receivedAt = opts.now();
    const nowSeconds = Math.floor(receivedAt / 1000);
    const raw = Buffer.isBuffer(req.body) ? req.body : EMPTY;
    const verdict = verifyWebhookSignature({
      secret: opts.secret,
      header: headerText(req.headers[SIGNATURE_HEADER]),
      rawBody: raw,
      nowSeconds,
    });
    if (!verdict.ok) {
      req.log.warn({ reason: verdict.reason }, 'resync webhook refused');
      throw new HttpError(401, 'unauthorized', REJECTIONS[verdict.reason]);
    }
    const body = parseWith(TriggerBody, parseJson(raw), 'body');
    if (!opts.available()) throw new UnavailableError('redis is not connected');
    const expiresAt = verdict.t + SIGNATURE_TOLERANCE_SECONDS;
    // Claim, then trigger: the claim is atomic (SET NX in Redis), so of two copies sent at once, or
    // to two replicas, one passes.
    let claim: ClaimResult;
    try {
      claim = await opts.replay.claim(verdict.digest, expiresAt, nowSeconds);
    } catch (err) {
      req.log.error({ err }, 'resync webhook: replay memory unreachable');
      throw new UnavailableError('replay memory unreachable');
    }
    if (claim === 'replayed') {
      req.log.warn({ t: verdict.t }, 'resync webhook refused: replayed');
      throw new HttpError(401, 'unauthorized', 'this signature was already used');
    }
    if (claim === 'pending') {
      req.log.warn({ t: verdict.t }, 'resync webhook: a copy is being processed');
      throw new HttpError(
        503,
        'unavailable',
        'a request with this signature is being processed; retry later',
        UNAVAILABLE_HEADERS,
      );
    }
    let result: Awaited<ReturnType<typeof requestRun>>;
    try {
      result = await requestRun(
        opts.runs,
        { trigger: 'webhook', reason: body?.reason, receivedAt },
        req.log,
        TRIGGER_DEADLINE_MS,
      );
    } catch (err) {
      // Nothing was queued (as far as we know): the sender's retry of this same request is legitimate.
      await opts.replay.release(verdict.digest).catch((e: unknown) => {
        // The pending claim expires on its own within seconds.
        req.log.warn({ err: e }, 'resync webhook: could not release the claim');
      });
      throw err;
    }
    await opts.replay.confirm(verdict.digest, expiresAt, nowSeconds).catch((e: unknown) => {
      // The run is queued; a replay once the pending claim expires would coalesce or add one run.
      req.log.warn({ err: e }, 'resync webhook: could not record the signature as used');
    });
    return reply.code(202).send(result);
  });
}
