// The words of a notification, one builder for every channel: a title, a headline, facts (idsync's
// own words and numbers) and details (text that came from the directory or a server, already made
// safe by noticeOf, which each channel still puts where its markup cannot interpret it). Pure.
import { KIND_LABELS } from '../report/describe.js';
import type { Notice, NotifyEvent } from './notice.js';

export interface MessageContent {
  /** Short: a subject line, a card's heading. */
  title: string;
  /** One or two sentences saying what happened and what is asked of the reader. */
  headline: string;
  /** idsync's own words and numbers. */
  facts: Array<{ label: string; value: string }>;
  /** Untrusted text (made safe, still to be escaped by the channel), each under a label. */
  details: Array<{ label: string; lines: string[] }>;
  link: string;
  linkLabel: string;
}

const EVENT_WORDS: Record<NotifyEvent, string> = {
  'awaiting-approval': 'awaits approval',
  blocked: 'is blocked',
  failed: 'failed',
  partial: 'ended partial',
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function headlineOf(n: Notice): string {
  const p = n.plan;
  const failed = n.opCounts?.failed ?? 0;
  switch (n.event) {
    case 'awaiting-approval':
      return `${plural(p?.ops ?? 0, 'change')} planned; nothing is applied until someone approves the run.`;
    case 'blocked':
      if (n.status === 'awaiting-approval') {
        const applied = (n.opCounts?.applied ?? 0) + (n.opCounts?.already ?? 0);
        const additions = applied > 0 ? ' The additions were applied.' : '';
        return `Guardrails blocked the removals and role changes: they wait for approval.${additions}`;
      }
      if (n.supersededBy !== undefined) {
        return `A newer run (${n.supersededBy}) replaced this one before its blocked removals were approved.`;
      }
      return `${plural(p?.held ?? 0, 'change')} held back: idsync cannot be sure they are wanted. No approval releases them; the cause has to go away (see the run).`;
    case 'failed':
      return 'The run failed: nothing more is applied until the next run.';
    case 'partial': {
      const total = n.plan?.ops ?? 0;
      return `${failed} of ${plural(total, 'change')} failed; the others were applied.`;
    }
  }
}

/** The message of `n`, for any channel. */
export function buildMessage(n: Notice): MessageContent {
  const p = n.plan;
  const facts: MessageContent['facts'] = [
    { label: 'Run', value: n.runId },
    { label: 'Trigger', value: n.trigger },
  ];
  if (p) {
    const kinds = p.byKind.map((k) => `${KIND_LABELS[k.kind]}: ${k.ops}`).join(', ');
    facts.push({ label: 'Changes', value: p.ops === 0 ? 'none' : `${p.ops} (${kinds})` });
    facts.push({ label: 'Removals', value: String(p.removals) });
    if (p.held > 0) facts.push({ label: 'Held back', value: String(p.held) });
    facts.push({ label: 'Guardrails', value: p.guardrails.verdict });
    if (!p.complete) facts.push({ label: 'Directory read', value: 'incomplete: nothing is removed' });
  }
  if (n.opCounts && (n.event === 'partial' || n.opCounts.applied + n.opCounts.failed > 0)) {
    const c = n.opCounts;
    facts.push({
      label: 'Applied',
      value: `${c.applied} applied, ${c.already} already so, ${c.failed} failed, ${c.skipped} skipped`,
    });
  }

  const details: MessageContent['details'] = [];
  if (p && p.guardrails.reasons.length > 0) {
    const more = p.guardrails.more > 0 ? [`…and ${p.guardrails.more} more`] : [];
    details.push({ label: 'Why guardrails blocked', lines: [...p.guardrails.reasons, ...more] });
  }
  if (n.error !== undefined) details.push({ label: 'Error', lines: [n.error] });
  if (n.firstFailure !== undefined) details.push({ label: 'First failure', lines: [n.firstFailure] });
  if (n.reason !== undefined) details.push({ label: 'Trigger reason', lines: [n.reason] });

  return {
    title: `idsync: run ${n.runId} ${EVENT_WORDS[n.event]}`,
    headline: headlineOf(n),
    facts,
    details,
    link: n.link,
    linkLabel:
      n.event === 'awaiting-approval' || n.status === 'awaiting-approval'
        ? 'Review and approve'
        : 'Open the run',
  };
}

/** The whole message as plain text lines (email's text part, Slack's plain-text format). */
export function plainLines(m: MessageContent): string[] {
  return [
    m.title,
    '',
    m.headline,
    '',
    ...m.facts.map((f) => `${f.label}: ${f.value}`),
    ...m.details.flatMap((d) => ['', `${d.label}:`, ...d.lines.map((l) => `  - ${l}`)]),
    '',
    `${m.linkLabel}: ${m.link}`,
  ];
}
