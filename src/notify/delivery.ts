// How a channel's send fails: in words that never hold the URL (Slack's and Teams' webhook URLs are
// bearer secrets, and a generic webhook's may carry a token), and whether trying again can help.
import type { Notice, NotifyChannel } from './notice.js';

export class DeliveryError extends Error {
  constructor(
    readonly channel: NotifyChannel,
    message: string,
    /** False when the receiver refused the message itself (a 4xx): retries would be refused too. */
    readonly retryable: boolean,
  ) {
    super(`${channel}: ${message}`);
    this.name = 'DeliveryError';
  }
}

/** The send of one channel: resolves once the receiver accepted the message. */
export interface ChannelSender {
  readonly channel: NotifyChannel;
  send(body: SendInput): Promise<void>;
  close?(): void;
}

export interface SendInput {
  notice: Notice;
  /** Unique per queued delivery; the generic webhook sends it for the receiver's own dedupe. */
  deliveryId: string;
}

/** `connection refused (ECONNREFUSED)` from what fetch throws: the code, never the address. */
function networkReason(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out';
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'name lookup failed',
    ETIMEDOUT: 'timed out',
    UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
    UND_ERR_SOCKET: 'connection closed',
    CERT_HAS_EXPIRED: 'TLS: certificate expired',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: certificate not trusted',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: self-signed certificate',
    SELF_SIGNED_CERT_IN_CHAIN: 'TLS: self-signed certificate in chain',
    ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: certificate does not match the host',
  };
  return code ? `${words[code] ?? 'network error'} (${code})` : 'network error';
}

/**
 * POSTs `body` to `url`. Redirects are not followed (the body would go where the receiver says);
 * 408, 429 and 5xx are worth retrying, other statuses are not.
 */
export async function postJson(
  channel: NotifyChannel,
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new DeliveryError(channel, networkReason(err), true);
  }
  // Read (and drop) the answer so the connection is reused; its text may echo the request.
  await res.arrayBuffer().catch(() => undefined);
  if (res.status >= 200 && res.status < 300) return;
  if (res.status >= 300 && res.status < 400) {
    throw new DeliveryError(channel, `HTTP ${res.status}: redirects are not followed`, false);
  }
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  throw new DeliveryError(channel, `HTTP ${res.status} from the receiver`, retryable);
}
