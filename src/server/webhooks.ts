// POST /webhooks/resync: a signed "resync now" from anything that knows the shared secret (an HR
// system, a CI job, a directory's change hook). Checks run cheapest-first and before any parsing of
// the body, so an unauthenticated caller learns nothing about it and triggers nothing.
import type { FastifyInstance } from 'fastify';
import type { RunService } from '../daemon/types.js';
import { HttpError, mediaType, parseJson, parseWith, TriggerBody } from './http.js';
import type { ReplayGuard } from './replay.js';
import { SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS, verifyWebhookSignature } from './signature.js';
import { requestRun } from './trigger.js';

export const WEBHOOK_BODY_LIMIT = 1024 * 1024;
const TRIGGER_DEADLINE_MS = 5_000;
const EMPTY = Buffer.alloc(0);

export interface ResyncWebhookOptions {
  secret: string;
  runs: RunService;
  replay: ReplayGuard;
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
    // Claim-then-trigger with no await in between: two concurrent copies cannot both pass.
    if (!opts.replay.claim(verdict.digest, verdict.t + SIGNATURE_TOLERANCE_SECONDS, nowSeconds)) {
      req.log.warn({ t: verdict.t }, 'resync webhook refused: replayed');
      throw new HttpError(401, 'unauthorized', 'this signature was already used');
    }
    try {
      const result = await requestRun(
        opts.runs,
        { trigger: 'webhook', reason: body?.reason, receivedAt },
        req.log,
        TRIGGER_DEADLINE_MS,
      );
      return reply.code(202).send(result);
    } catch (err) {
      // Nothing was queued (as far as we know): the sender's retry of this same request is legitimate.
      opts.replay.release(verdict.digest);
      throw err;
    }
  });
}
