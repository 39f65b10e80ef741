// A generic JSON webhook, signed exactly like idsync's own resync webhook (src/server/signature.ts):
// `X-Idsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with a secret read
// from a file, so a receiver checks it with the same few lines (or with idsync's verify function).
// Each retry is signed afresh, so it falls inside the receiver's replay window; `X-Idsync-Delivery`
// stays the same across retries for the receiver's own dedupe.
import { SIGNATURE_HEADER, signWebhook } from '../server/signature.js';
import { type ChannelSender, postJson, type SendInput } from './delivery.js';
import { buildMessage } from './message.js';
import type { Notice } from './notice.js';

export interface WebhookSettings {
  url: string;
  secret: string;
}

export const DELIVERY_HEADER = 'x-idsync-delivery';
export const EVENT_HEADER = 'x-idsync-event';

/** Version of the body's shape; a receiver can refuse what it does not know. */
export const WEBHOOK_BODY_VERSION = 1;

/** The JSON body: the notice itself, plus the words the other channels show. */
export function webhookBody(n: Notice, deliveryId: string, sentAt: Date): Record<string, unknown> {
  const m = buildMessage(n);
  return {
    version: WEBHOOK_BODY_VERSION,
    type: `idsync.run.${n.event}`,
    deliveryId,
    sentAt: sentAt.toISOString(),
    event: n.event,
    run: {
      id: n.runId,
      status: n.status,
      trigger: n.trigger,
      ...(n.reason !== undefined ? { reason: n.reason } : {}),
      createdAt: n.createdAt,
      ...(n.finishedAt !== undefined ? { finishedAt: n.finishedAt } : {}),
      ...(n.supersededBy !== undefined ? { supersededBy: n.supersededBy } : {}),
      url: n.link,
    },
    ...(n.plan
      ? {
          plan: {
            ops: n.plan.ops,
            byKind: Object.fromEntries(n.plan.byKind.map((k) => [k.kind, k.ops])),
            removals: n.plan.removals,
            held: n.plan.held,
            complete: n.plan.complete,
            warnings: n.plan.warnings,
            guardrails: n.plan.guardrails,
          },
        }
      : {}),
    ...(n.opCounts ? { opCounts: n.opCounts } : {}),
    ...(n.error !== undefined ? { error: n.error } : {}),
    ...(n.firstFailure !== undefined ? { firstFailure: n.firstFailure } : {}),
    message: { title: m.title, headline: m.headline },
  };
}

/** The body and headers of one delivery attempt, signed at `now`. */
export function webhookRequest(
  n: Notice,
  deliveryId: string,
  secret: string,
  now: Date,
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(webhookBody(n, deliveryId, now));
  return {
    body,
    headers: {
      [SIGNATURE_HEADER]: signWebhook(secret, body, Math.floor(now.getTime() / 1000)),
      [DELIVERY_HEADER]: deliveryId,
      [EVENT_HEADER]: n.event,
    },
  };
}

export function webhookSender(s: WebhookSettings, timeoutMs: number): ChannelSender {
  return {
    channel: 'webhook',
    send: ({ notice, deliveryId }: SendInput) => {
      const { body, headers } = webhookRequest(notice, deliveryId, s.secret, new Date());
      return postJson('webhook', s.url, body, headers, timeoutMs);
    },
  };
}
