// The pure half of notifications: which record is which event, what a notice keeps of a run (counts,
// reasons and error lines made safe: no addresses, no secrets, controls visible, capped), and how
// each channel puts directory text where its markup cannot interpret it.
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../../src/daemon/types.js';
import { emailMessage } from '../../../src/notify/email.js';
import { buildMessage } from '../../../src/notify/message.js';
import { eventOf, MAX_TEXT, noticeOf, runLink, safeText, wanted } from '../../../src/notify/notice.js';
import { escapeSlack, slackPayload } from '../../../src/notify/slack.js';
import { teamsPayload } from '../../../src/notify/teams.js';
import { webhookRequest } from '../../../src/notify/webhook.js';
import { verifyWebhookSignature } from '../../../src/server/signature.js';

const EVIL =
  '<!channel> *bold* [x](https://evil.example) {{DATE(2020-01-01T00:00:00Z)}} <script>alert(1)</script>';

function record(over: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 'run-20261201T101530Z-9f3a1c',
    trigger: 'webhook',
    reason: `hr feed: ${EVIL}`,
    status: 'awaiting-approval',
    createdAt: '2026-12-01T10:15:30.000Z',
    plan: {
      fingerprint: 'sha256:abc',
      summary: { inviteUsers: 2, addOrgUser: 7, removeOrgUser: 3, removeUser: 4 },
      ops: 16,
      warnings: 1,
      complete: true,
      guardrails: {
        verdict: 'blocked',
        reasons: [
          '4 user removals exceed guardrails.maxUserRemovals (0)',
          `directory group ${EVIL} (mappings[0]) shrank by 60.0% since the last successful run`,
          'a',
          'b',
          'c',
          'd',
        ],
      },
      held: 0,
    },
    ...over,
  };
}

describe('events', () => {
  it('maps statuses to events; a guardrail-blocked run waiting for approval is blocked', () => {
    expect(eventOf(record())).toBe('blocked');
    const ok = record();
    if (ok.plan) ok.plan.guardrails = { verdict: 'ok', reasons: [] };
    expect(eventOf(ok)).toBe('awaiting-approval');
    expect(eventOf({ status: 'blocked' })).toBe('blocked');
    expect(eventOf({ status: 'failed' })).toBe('failed');
    expect(eventOf({ status: 'partial' })).toBe('partial');
    for (const s of ['succeeded', 'superseded', 'queued', 'applying', 'planning'] as const) {
      expect(eventOf({ status: s })).toBeUndefined();
    }
  });

  it('sends a guardrail-blocked waiting run to whoever asked for awaiting-approval too', () => {
    expect(wanted('blocked', 'awaiting-approval', ['awaiting-approval'])).toBe(true);
    expect(wanted('blocked', 'blocked', ['awaiting-approval'])).toBe(false);
    expect(wanted('failed', 'failed', ['partial'])).toBe(false);
    expect(wanted('partial', 'partial', ['partial'])).toBe(true);
  });

  it('links to the console under the public URL, the id encoded', () => {
    expect(runLink('https://idsync.corp.example/sync/', 'run-1')).toBe(
      'https://idsync.corp.example/sync/console/runs/run-1',
    );
    expect(runLink('https://h.example', 'a b/c')).toBe('https://h.example/console/runs/a%20b%2Fc');
  });
});

describe('the notice', () => {
  it('keeps counts, the first five reasons and no address or secret', () => {
    const n = noticeOf(
      record({ error: 'bind failed for alice@corp.example with cog_secret_token\nstack line' }),
      'blocked',
      'https://idsync.corp.example',
      ['cog_secret_token'],
    );
    expect(n.plan).toMatchObject({
      ops: 16,
      removals: 7,
      byKind: [
        { kind: 'inviteUsers', ops: 2 },
        { kind: 'addOrgUser', ops: 7 },
        { kind: 'removeOrgUser', ops: 3 },
        { kind: 'removeUser', ops: 4 },
      ],
      guardrails: { verdict: 'blocked', more: 1 },
    });
    expect(n.plan?.guardrails.reasons).toHaveLength(5);
    expect(n.error).toBe('bind failed for [email] with [redacted]');
    expect(n.link).toBe('https://idsync.corp.example/console/runs/run-20261201T101530Z-9f3a1c');
  });

  it('makes free text one safe line', () => {
    expect(safeText('a\u001b[31mb\u202ec\nsecond')).toBe('a\\u001b[31mb\\u202ec');
    expect(safeText('x'.repeat(1000))).toHaveLength(MAX_TEXT);
    expect(safeText('mail bob.smith+x@corp.example now')).toBe('mail [email] now');
  });

  it('says what the run waits for, or why it is held', () => {
    const blocked = buildMessage(noticeOf(record(), 'blocked', 'https://h.example'));
    expect(blocked.title).toBe('idsync: run run-20261201T101530Z-9f3a1c is blocked');
    expect(blocked.headline).toMatch(/^Guardrails blocked the removals/);
    expect(blocked.linkLabel).toBe('Review and approve');
    expect(blocked.details[0]).toMatchObject({ label: 'Why guardrails blocked' });
    expect(blocked.details[0]?.lines.at(-1)).toBe('…and 1 more');

    const held = record({ status: 'blocked' });
    if (held.plan)
      Object.assign(held.plan, { ops: 0, summary: {}, held: 12, guardrails: { verdict: 'ok', reasons: [] } });
    const m = buildMessage(noticeOf(held, 'blocked', 'https://h.example'));
    expect(m.headline).toMatch(/^12 changes held back: .*No approval releases them/);
    expect(m.facts).toContainEqual({ label: 'Held back', value: '12' });
    expect(m.linkLabel).toBe('Open the run');
  });
});

describe('channels', () => {
  const notice = noticeOf(record(), 'blocked', 'https://idsync.corp.example');

  it('Slack: directory text only in plain_text with emoji off, & < > escaped everywhere', () => {
    const p = slackPayload(notice, 'blocks') as { text: string; blocks: Array<Record<string, unknown>> };
    const json = JSON.stringify(p);
    expect(json).not.toContain('<!channel>');
    expect(json).not.toContain('<script>');
    for (const b of p.blocks) {
      const text = JSON.stringify(b);
      if (text.includes('hr feed') || text.includes('shrank')) {
        expect(b).toMatchObject({ type: 'section', text: { type: 'plain_text', emoji: false } });
      }
    }
    expect(p.text).toBe(escapeSlack(`${buildMessage(notice).title}: ${buildMessage(notice).headline}`));
    const plain = slackPayload(notice, 'text');
    expect(plain.mrkdwn).toBe(false);
    expect(plain.text).toContain('&lt;!channel&gt;');
    expect(plain.text).toContain('https://idsync.corp.example/console/runs/run-20261201T101530Z-9f3a1c');
  });

  it('Teams: directory text only in TextRuns, template functions broken up', () => {
    const p = teamsPayload(notice) as {
      attachments: Array<{ content: { body: Array<Record<string, unknown>> } }>;
    };
    const body = p.attachments[0]?.content.body ?? [];
    for (const b of body) {
      if (JSON.stringify(b).includes('hr feed')) expect(b.type).toBe('RichTextBlock');
      if (b.type === 'TextBlock' || b.type === 'FactSet')
        expect(JSON.stringify(b)).not.toContain('evil.example');
    }
    expect(JSON.stringify(p)).not.toContain('{{DATE');
  });

  it('email: the HTML escapes everything, the subject is one line', () => {
    const m = emailMessage(
      noticeOf(record({ reason: 'x\r\nBcc: y@evil.example' }), 'blocked', 'https://h.example'),
    );
    expect(m.subject).not.toMatch(/[\r\n]/);
    expect(emailMessage(notice).html).not.toContain('<script>');
    expect(emailMessage(notice).html).toContain('&lt;script&gt;');
    expect(m.text).not.toContain('\nBcc:');
  });

  it('webhook: signed like /webhooks/resync, verified by the same function', () => {
    const now = new Date('2026-12-01T10:20:00Z');
    const { body, headers } = webhookRequest(notice, 'delivery-1', 'a-webhook-secret-16+', now);
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const header = headers['x-idsync-signature'];
    expect(
      verifyWebhookSignature({ secret: 'a-webhook-secret-16+', header, rawBody: body, nowSeconds }).ok,
    ).toBe(true);
    expect(
      verifyWebhookSignature({ secret: 'a-webhook-secret-16+', header, rawBody: `${body} `, nowSeconds }).ok,
    ).toBe(false);
    expect(headers['x-idsync-delivery']).toBe('delivery-1');
    expect(JSON.parse(body)).toMatchObject({
      version: 1,
      type: 'idsync.run.blocked',
      deliveryId: 'delivery-1',
      plan: { removals: 7 },
    });
  });
});
