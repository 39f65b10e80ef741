// `notify:` as the loader hands it over (src/config/notifySchema.ts): defaults applied, the
// `*File` secrets read, `server.publicUrl` copied in (every message links to its run page).
import type { EmailSettings } from './email.js';
import type { NotifyEvent } from './notice.js';
import type { SlackSettings } from './slack.js';
import type { TeamsSettings } from './teams.js';
import type { WebhookSettings } from './webhook.js';

export interface NotifySettings {
  /** Which events are sent (default all four). */
  on: NotifyEvent[];
  /** Tries of one delivery, the first included. */
  attempts: number;
  /** First wait after a failed try, doubled after each. */
  backoffMs: number;
  /** One try: a request, or one SMTP conversation's each step. */
  timeoutMs: number;
  /** server.publicUrl: links are `${publicUrl}/console/runs/<id>`. */
  publicUrl: string;
  slack?: SlackSettings;
  teams?: TeamsSettings;
  email?: EmailSettings;
  webhook?: WebhookSettings;
}
