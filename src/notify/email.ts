// Email over SMTP with nodemailer: STARTTLS required by default (a server that does not offer it
// is refused, never spoken to in clear), or implicit TLS (`secure`, port 465); AUTH with a user and
// a password read from a file; the server verified against the system CAs or `caFile`. The HTML part
// escapes everything; the subject and the text part are plain text (controls already made visible
// by noticeOf), so a directory name can neither inject a header nor markup.
import { createTransport, type Transporter } from 'nodemailer';
import { type ChannelSender, DeliveryError, type SendInput } from './delivery.js';
import { buildMessage, plainLines } from './message.js';
import type { Notice } from './notice.js';

export interface EmailSettings {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (port 465). */
  secure: boolean;
  /** Without `secure`: upgrade with STARTTLS, and refuse a server that does not offer it. */
  startTLS: boolean;
  username?: string;
  password?: string;
  from: string;
  to: string[];
  /** PEM text the server certificate is verified against (default: the system CAs). */
  ca?: string;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
}

export function emailMessage(n: Notice): EmailMessage {
  const m = buildMessage(n);
  const e = escapeHtml;
  const facts = m.facts
    .map(
      (f) =>
        `<tr><th style="text-align:left;padding:2px 12px 2px 0">${e(f.label)}</th><td>${e(f.value)}</td></tr>`,
    )
    .join('');
  const details = m.details
    .map(
      (d) =>
        `<h3 style="font-size:14px;margin:16px 0 4px">${e(d.label)}</h3><ul>${d.lines.map((l) => `<li>${e(l)}</li>`).join('')}</ul>`,
    )
    .join('');
  const html = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${e(m.title)}</title></head>
<body style="font-family:system-ui,sans-serif;font-size:14px;color:#111">
<h2 style="font-size:16px">${e(m.title)}</h2>
<p>${e(m.headline)}</p>
<table>${facts}</table>
${details}
<p><a href="${e(m.link)}">${e(m.linkLabel)}</a></p>
<p style="color:#666;font-size:12px">Sent by idsync. ${e(m.link)}</p>
</body></html>`;
  // A subject is one line: the title is idsync's own words and a run id, nothing from the directory.
  return { subject: m.title, text: `${plainLines(m).join('\n')}\n`, html };
}

/** SMTP reply codes 5xx are permanent; 4xx and network failures are worth another try. */
function describeSmtp(err: unknown, secrets: readonly string[]): DeliveryError {
  const e = err as { code?: unknown; responseCode?: unknown; response?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const reply = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  let text = typeof e.response === 'string' ? e.response : typeof e.message === 'string' ? e.message : '';
  text = text.split(/\r?\n/, 1)[0] ?? '';
  for (const s of secrets) if (s.length > 0) text = text.split(s).join('[redacted]');
  if (text.length > 200) text = `${text.slice(0, 199)}…`;
  const permanent = (reply !== undefined && reply >= 500) || code === 'EAUTH' || code === 'EENVELOPE';
  const what = [code, reply].filter((x) => x !== undefined).join(' ');
  return new DeliveryError('email', `SMTP ${what || 'error'}: ${text || 'failed'}`, !permanent);
}

export function emailSender(s: EmailSettings, timeoutMs: number): ChannelSender {
  const secrets = [s.password ?? ''];
  let transport: Transporter | undefined;
  const transporter = (): Transporter => {
    transport ??= createTransport({
      host: s.host,
      port: s.port,
      secure: s.secure,
      requireTLS: !s.secure && s.startTLS,
      ignoreTLS: !s.secure && !s.startTLS,
      ...(s.username !== undefined && s.password !== undefined
        ? { auth: { user: s.username, pass: s.password } }
        : {}),
      tls: { minVersion: 'TLSv1.2', ...(s.ca !== undefined ? { ca: s.ca } : {}) },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      logger: false,
      debug: false,
    });
    return transport;
  };
  return {
    channel: 'email',
    async send({ notice, deliveryId }: SendInput) {
      const m = emailMessage(notice);
      try {
        await transporter().sendMail({
          from: s.from,
          to: s.to,
          subject: m.subject,
          text: m.text,
          html: m.html,
          headers: {
            'X-Idsync-Run': notice.runId,
            'X-Idsync-Event': notice.event,
            'X-Idsync-Delivery': deliveryId,
          },
        });
      } catch (err) {
        throw describeSmtp(err, secrets);
      }
    },
    close() {
      transport?.close();
      transport = undefined;
    },
  };
}
