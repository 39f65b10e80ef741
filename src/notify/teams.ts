// Microsoft Teams through a workflow webhook: the Power Automate flow "Post to a channel when a
// webhook request is received" (Teams' replacement of the retired Office 365 connectors). The flow
// posts each Adaptive Card of a message envelope's `attachments`. Its URL carries a signature
// (`sig=`): a bearer secret, read from a file. Untrusted text goes only into RichTextBlock TextRuns,
// which Adaptive Cards render as written (no Markdown); TextBlocks and FactSets, which do interpret
// Markdown, carry idsync's own words.
import { type ChannelSender, postJson, type SendInput } from './delivery.js';
import { buildMessage } from './message.js';
import type { Notice } from './notice.js';

export interface TeamsSettings {
  webhookUrl: string;
}

// `{{DATE(…)}}` and `{{TIME(…)}}` are functions even in a TextRun: break the braces apart.
const literal = (text: string) => text.replace(/\{\{/g, '{\u200b{');

const run = (text: string) => ({
  type: 'RichTextBlock',
  inlines: [{ type: 'TextRun', text: literal(text) }],
});

/** The message envelope the workflow's trigger takes. */
export function teamsPayload(n: Notice): Record<string, unknown> {
  const m = buildMessage(n);
  const body: unknown[] = [
    {
      type: 'TextBlock',
      text: literal(m.title),
      weight: 'Bolder',
      size: 'Medium',
      wrap: true,
      style: 'heading',
    },
    run(m.headline),
    { type: 'FactSet', facts: m.facts.map((f) => ({ title: literal(f.label), value: literal(f.value) })) },
  ];
  for (const d of m.details) {
    body.push({ type: 'TextBlock', text: literal(d.label), weight: 'Bolder', wrap: true, spacing: 'Medium' });
    for (const line of d.lines) body.push(run(line));
  }
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          // 1.4: what Teams renders in channels and chats (1.5 is not everywhere yet).
          version: '1.4',
          msteams: { width: 'Full' },
          body,
          actions: [{ type: 'Action.OpenUrl', title: m.linkLabel, url: m.link }],
        },
      },
    ],
  };
}

export function teamsSender(s: TeamsSettings, timeoutMs: number): ChannelSender {
  return {
    channel: 'teams',
    send: ({ notice }: SendInput) =>
      postJson('teams', s.webhookUrl, JSON.stringify(teamsPayload(notice)), {}, timeoutMs),
  };
}
