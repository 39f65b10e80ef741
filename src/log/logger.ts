import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Every place a secret could reach a log line. A pino child inherits these; never give a child its
 * own `redact`, which would replace them.
 */
const SECRET_KEYS = [
  'token',
  'password',
  'secret',
  'authorization',
  'bindPassword',
  'clientSecret',
  'adminToken',
  'webhookSecret',
  'privateKey',
  // Slack's and Teams' incoming webhook URLs are bearer secrets.
  'webhookUrl',
];
export const REDACT_PATHS = [
  // At the top level, one level down and two levels down (e.g. `config.devin.token`).
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-idsync-signature"]',
];

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const opts = {
    level: options.level ?? process.env.IDSYNC_LOG_LEVEL ?? 'info',
    base: { app: 'idsync' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that drops everything: for library use where the caller gave none. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** Commands print their results on stdout; their log lines go to stderr, warnings and up by default. */
export function createCliLogger(): Logger {
  return createLogger({ level: process.env.IDSYNC_LOG_LEVEL ?? 'warn', destination: process.stderr });
}
