// `idsync run` as a real process with an ldap source and `source.watch`, against a real slapd
// (syncprov: contextCSN), the Devin simulator and a private redis-server: a member added to the
// mapped group in slapd reaches Devin by a run the watch asked for, with no webhook sent; the
// metrics count the polls; SIGTERM stops it with exit 0 and the bind password is in no log line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { companyLdif } from '../support/companyLdif.js';
import { spawnIdsync, stopProcess, TOKEN, waitFor } from '../support/daemonRig.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';
import { type Slapd, startSlapd } from '../support/slapd.js';

const SUFFIX = 'dc=example,dc=com';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const READER = `uid=idsync,ou=system,${SUFFIX}`;
const READER_PW = 'reader-Watch-Pa55!';
const ADMIN_TOKEN = 'admin-watch-5d1c9e7a3f';
const ENG = `cn=devin-eng,${GROUPS}`;
const PEOPLE_UIDS = ['alice', 'bob', 'carol'];
const person = (uid: string) => `uid=${uid},${PEOPLE}`;
const email = (uid: string) => `${uid}@corp.example`;

function preload(): string {
  return companyLdif({
    suffix: SUFFIX,
    accounts: [{ dn: READER, pw: READER_PW }],
    uids: PEOPLE_UIDS,
    personExtra: (uid) => ({ displayName: uid }),
    groups: [{ dn: ENG, cn: 'devin-eng', members: [person('alice')] }],
  });
}

let redis: TestRedis;
let sim: RunningSimulator;
let slapd: Slapd;
let dir: string;

beforeAll(async () => {
  [redis, slapd] = await Promise.all([
    startRedis(),
    startSlapd({ tls: false, syncprov: true, preload: preload() }),
  ]);
  const base = generateSeed({ users: 2, groups: 0, orgs: 2, token: TOKEN });
  sim = await startSimulator({ seed: { ...base, idp_memberships: [] } });
  dir = mkdtempSync(join(tmpdir(), 'idsync-daemon-watch-'));
}, 60_000);

afterAll(async () => {
  await sim?.close();
  await slapd?.stop();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const inDevin = (uid: string) => sim.dump().users.some((u) => u.email === email(uid));

describe('idsync run with source.watch', () => {
  it('a member added in slapd reaches Devin by a watch run, with no webhook', async () => {
    const port = await freePort();
    writeFileSync(join(dir, 'reader.pw'), READER_PW);
    const configFile = join(dir, 'idsync.yaml');
    writeFileSync(
      configFile,
      `source:
  type: ldap
  profile: openldap
  url: ${slapd.url}
  bindDN: ${READER}
  bindPasswordFile: reader.pw
  userBase: ${PEOPLE}
  groupBase: ${GROUPS}
  watch: { intervalMs: 300, debounceMs: 200 }
devin:
  baseUrl: ${sim.url}
  token: ${TOKEN}
  maxRequestsPerSecond: 0
mappings:
  - group: { name: devin-eng }
    enterpriseRole: account_member
    provisionUsers: true
scope:
  emailDomains: [corp.example]
  groupNamePattern: "devin-*"
  deprovision: remove
  adopt: matching
mode: auto
redis:
  url: ${redis.url}
server:
  host: 127.0.0.1
  port: ${port}
  adminToken: ${ADMIN_TOKEN}
`,
    );
    const observer: Daemon = await startDaemon({
      config: await loadConfig(configFile),
      logger: silentLogger,
      workers: false,
      scheduler: false,
      tuning: { prefix: 'watchd' },
    });
    const daemon = spawnIdsync(['run', '--config', configFile, '--prefix', 'watchd']);
    try {
      await daemon.waitForLine(/idsync daemon listening/, 30_000);
      await daemon.waitForLine(/watching: dc=example,dc=com offers contextCSN \(syncprov\)/, 30_000);
      // The startup run (and the watch's first-reading run, if it did not join it) syncs alice.
      await waitFor(async () => (inDevin('alice') ? true : undefined), 'alice in Devin', 30_000, 100);
      await waitFor(async () => {
        const runs = await observer.service.list(10);
        return runs.length > 0 && runs.every((r) => ['succeeded', 'superseded'].includes(r.status))
          ? true
          : undefined;
      }, 'the first runs to finish');
      expect(inDevin('bob')).toBe(false);

      await slapd.modify(`dn: ${ENG}\nchangetype: modify\nadd: member\nmember: ${person('bob')}\n\n`);
      await waitFor(async () => (inDevin('bob') ? true : undefined), 'bob in Devin', 30_000, 50);
      const watched = await waitFor(async () => {
        const runs = await observer.service.list(20);
        return runs.find(
          (r) => r.trigger === 'watch' && /contextCSN moved/.test(r.reason ?? '') && r.status === 'succeeded',
        );
      }, 'the watch run to succeed');
      expect(watched.plan?.summary).toMatchObject({ inviteUsers: 1 });
      const runs = await observer.service.list(20);
      expect(runs.some((r) => r.trigger === 'webhook' || r.trigger === 'api')).toBe(false);

      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/idsync_ldap_watermark_polls_total\{outcome="moved"\} [1-9]/);
      expect(metrics).toMatch(/idsync_ldap_watermark_polls_total\{outcome="same"\} [1-9]/);
      expect(metrics).toMatch(/idsync_runs_total\{trigger="watch",outcome="succeeded"\} [1-9]/);
      expect(metrics).toMatch(/idsync_ldap_watermark_to_run_seconds \d/);

      expect(await stopProcess(daemon, 'SIGTERM')).toBe(0);
      const log = daemon.lines.join('\n');
      expect(log).toContain('watermark moved: run requested');
      expect(log).not.toContain(READER_PW);
    } finally {
      await stopProcess(daemon, 'SIGKILL');
      await observer.close();
    }
  });
});
