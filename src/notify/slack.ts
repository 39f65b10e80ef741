// Slack through an incoming webhook (a Slack app with "Incoming Webhooks" on: one URL per channel,
// and whoever has the URL can post there, so it is a secret read from a file). Block Kit by default,
// or one plain-text message. Untrusted text only ever goes into plain_text objects (with emoji
// codes off), where Slack does not interpret mrkdwn; `&`, `<` and `>` are escaped everywhere, as
// Slack asks, so no `<!channel>` or `<url|link>` can be smuggled in.
import { type ChannelSender, postJson, type SendInput } from './delivery.js';
import { buildMessage, type MessageContent, plainLines } from './message.js';
import type { Notice } from './notice.js';

export type SlackFormat = 'blocks' | 'text';

export interface SlackSettings {
  webhookUrl: string;
  format: SlackFormat;
}

/** Slack's three control characters. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const cap = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const plain = (text: string, max = 3000) => ({
  type: 'plain_text',
  text: cap(escapeSlack(text), max),
  emoji: false,
});

function blocks(m: MessageContent): unknown[] {
  const out: unknown[] = [
    { type: 'header', text: plain(m.title, 150) },
    { type: 'section', text: plain(m.headline) },
    {
      type: 'section',
      // At most 10 fields of 2000 characters; the labels are idsync's own.
      fields: m.facts.slice(0, 10).map((f) => ({
        type: 'mrkdwn',
        text: cap(`*${escapeSlack(f.label)}*\n${escapeSlack(f.value)}`, 2000),
      })),
    },
  ];
  for (const d of m.details) {
    out.push({ type: 'section', text: plain([`${d.label}:`, ...d.lines.map((l) => `• ${l}`)].join('\n')) });
  }
  out.push({
    type: 'actions',
    elements: [{ type: 'button', text: plain(m.linkLabel, 75), url: m.link, style: 'primary' }],
  });
  return out;
}

/** The JSON body an incoming webhook takes. */
export function slackPayload(n: Notice, format: SlackFormat): Record<string, unknown> {
  const m = buildMessage(n);
  if (format === 'text') {
    // mrkdwn off: the text is shown as written (the link is a bare URL, which Slack links itself).
    return { text: escapeSlack(plainLines(m).join('\n')), mrkdwn: false };
  }
  // `text` is the notification's fallback (push, screen readers): idsync's own words only.
  return { text: escapeSlack(`${m.title}: ${m.headline}`), blocks: blocks(m) };
}

export function slackSender(s: SlackSettings, timeoutMs: number): ChannelSender {
  return {
    channel: 'slack',
    send: ({ notice }: SendInput) =>
      postJson('slack', s.webhookUrl, JSON.stringify(slackPayload(notice, s.format)), {}, timeoutMs),
  };
}
