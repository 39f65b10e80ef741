// A Redis lease: which one replica does a job only one of them should (the Graph subscription
// upkeep, the LDAP watermark poll). SET NX PX to take it, renewed by its holder well within its
// time, released on shutdown; when the holder dies another replica takes over within one lease
// time.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// Renew and release only the lease we hold: after a pause longer than the lease another replica may
// hold it, and ours must not extend or delete theirs.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class Lease {
  readonly token = randomBytes(16).toString('hex');
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ms: number,
  ) {}

  /** Takes the lease if nobody holds it, or extends it if we do. True: we hold it now. */
  async hold(): Promise<boolean> {
    const renewed = Number(await this.redis.eval(RENEW, 1, this.key, this.token, String(this.ms)));
    if (renewed === 1) return true;
    return (await this.redis.set(this.key, this.token, 'PX', this.ms, 'NX')) === 'OK';
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key, this.token);
  }
}
