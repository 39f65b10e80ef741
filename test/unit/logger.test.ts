import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';

describe('logger redaction', () => {
  it('censors secrets at any of the first three levels, in children too', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger({ level: 'info', destination: sink });
    log.info(
      { token: 'cog_a1', devin: { token: 'cog_a2' }, config: { ldap: { bindPassword: 'pw3' } } },
      'one',
    );
    log
      .child({ job: 1 })
      .info(
        { server: { adminToken: 'adm4', webhookSecret: 'wh5' }, headers: { authorization: 'Bearer cog_a6' } },
        'two',
      );
    const text = lines.join('');
    for (const secret of ['cog_a1', 'cog_a2', 'pw3', 'adm4', 'wh5', 'cog_a6'])
      expect(text).not.toContain(secret);
    expect(text.match(/\[REDACTED\]/g)?.length).toBe(6);
  });
});
