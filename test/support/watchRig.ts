// What the LDAP watch tests share: a WatermarkPoller (src/daemon/watermark.ts) reading a real server
// through a loopback proxy that decodes each request (ldapProxy.ts), with its run triggers and
// poll outcomes recorded. The run itself is not started: the trigger is the seam (the daemon-level
// test, daemon.watch.test.ts, runs `idsync run` end to end).
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LdapSourceConfig } from '../../src/config/types.js';
import { NO_METRICS, type RunService } from '../../src/daemon/types.js';
import { WatermarkPoller } from '../../src/daemon/watermark.js';
import { resolveSettings } from '../../src/directory/ldap/profiles.js';
import { silentLogger } from '../../src/log/logger.js';
import { waitFor } from './daemonRig.js';
import { type LdapProxy, startLdapProxy } from './ldapProxy.js';

export interface Watch {
  poller: WatermarkPoller;
  proxy: LdapProxy;
  triggers: Array<{ trigger: string; reason?: string }>;
  /** Poll outcomes, in order (the poller's watermarkPoll metric). */
  polls: string[];
  /** Resolves once `n` more polls have been counted. */
  afterPolls(n: number): Promise<void>;
  /** The n-th trigger (1-based), once it came. */
  triggered(n: number, what: string): Promise<{ trigger: string; reason?: string }>;
  /** Starts polling; resolves after the first reading's run was asked for and a poll followed. */
  started(): Promise<void>;
  stop(): Promise<void>;
}

export interface WatchOptions {
  /** ldap://host:port of the real server (the proxy goes in front of it). */
  serverUrl: string;
  redis: Redis;
  prefix: string;
  /** The source config without url (the proxy's) and type. */
  source: Omit<LdapSourceConfig, 'type' | 'url' | 'insecureSkipVerify'>;
  intervalMs?: number;
  debounceMs?: number;
  leaseMs?: number;
  /**
   * source.watch.push; default off here, so that the tests of the poll count only the poll's
   * requests (the push tests, ldap.watch.push.*.test.ts, turn it on).
   */
  push?: 'auto' | 'off';
  /** The push listener's reconnect backoff (fast in tests). */
  pushBackoffMs?: { initialMs: number; maxMs: number };
  /** Default silent. */
  logger?: Logger;
}

export async function startWatch(o: WatchOptions): Promise<Watch> {
  const proxy = await startLdapProxy(o.serverUrl);
  const config: LdapSourceConfig = {
    type: 'ldap',
    url: proxy.url,
    insecureSkipVerify: false,
    timeoutMs: 5000,
    connectTimeoutMs: 2000,
    ...o.source,
  };
  const triggers: Watch['triggers'] = [];
  const polls: string[] = [];
  const trigger: RunService['trigger'] = async (t) => {
    triggers.push({ trigger: t.trigger, ...(t.reason !== undefined ? { reason: t.reason } : {}) });
    return { runId: `run-${triggers.length}`, coalesced: false };
  };
  const poller = new WatermarkPoller({
    settings: resolveSettings(config),
    watch: {
      enabled: true,
      intervalMs: o.intervalMs ?? 150,
      debounceMs: o.debounceMs ?? 300,
      push: o.push ?? 'off',
    },
    redis: o.redis,
    prefix: o.prefix,
    logger: o.logger ?? silentLogger,
    metrics: { ...NO_METRICS, watermarkPoll: (outcome) => polls.push(outcome) },
    trigger,
    ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}),
    ...(o.pushBackoffMs !== undefined ? { pushOptions: { backoff: o.pushBackoffMs } } : {}),
  });
  const afterPolls = async (n: number) => {
    const target = polls.length + n;
    await waitFor(async () => (polls.length >= target ? true : undefined), `${n} polls`, 30_000, 20);
  };
  const triggered = (n: number, what: string) =>
    waitFor(async () => (triggers.length >= n ? triggers[n - 1] : undefined), what, 30_000, 20);
  return {
    poller,
    proxy,
    triggers,
    polls,
    afterPolls,
    triggered,
    async started() {
      poller.start();
      const first = await triggered(1, 'the run of the first reading');
      if (!/first \w+ reading/.test(first.reason ?? ''))
        throw new Error(`the first run was asked for as ${JSON.stringify(first.reason)}`);
      await afterPolls(2);
    },
    async stop() {
      await poller.stop();
      await proxy.close();
    },
  };
}
