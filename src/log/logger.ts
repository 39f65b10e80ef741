import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Every place a secret could reach a log line. A pino child inherits these; never give a child its
 * own `redact`, which would replace them (see LIBRARIES.md).
 */
export const REDACT_PATHS = [
  'token',
  'password',
  'secret',
  '*.token',
  '*.password',
  '*.secret',
  'authorization',
  '*.authorization',
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
