// A real Redis Sentinel setup for tests (issue 10): one master, one replica and three sentinels
// (`redis-server --sentinel`, the same binary), all on free loopback ports, in a temp dir. The data
// nodes require a password (`requirepass`, `masterauth` on the replica) and so do the sentinels
// (their own `requirepass`), so a client needs both passwordFile and sentinelPasswordFile. Quorum
// 2 and a short down-after-milliseconds: a SIGKILLed master is replaced within seconds.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './redis.js';

export interface RedisNode {
  port: number;
  child: ChildProcess;
}

export interface TestSentinelSetup {
  masterName: string;
  /** Of the master and the replica. */
  password: string;
  /** Of the sentinels. */
  sentinelPassword: string;
  sentinels: Array<{ host: string; port: number }>;
  dir: string;
  /** The data node the sentinels currently name master. */
  masterPort(): Promise<number>;
  /** SIGKILLs the data node on `port` (no chance to save or hand over anything). */
  kill(port: number): Promise<void>;
  /** Waits until the sentinels name a master other than `port`; resolves with its port. */
  waitForNewMaster(port: number, timeoutMs?: number): Promise<number>;
  /** The sentinels' log lines so far (for a failed test's message). */
  log(): string[];
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

function spawnServer(args: string[], lines: string[], tag: string): ChildProcess {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Kept (bounded) for diagnostics, and drained so a chatty server never blocks on a full pipe.
  const keep = (buf: Buffer) => {
    for (const l of buf.toString().split('\n')) if (l.trim() !== '') lines.push(`${tag} ${l}`);
    if (lines.length > 2000) lines.splice(0, lines.length - 2000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One short-lived connection, for a probe. */
async function withClient<T>(port: number, password: string, f: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: HOST,
    port,
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2_000,
    enableReadyCheck: false,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return await f(r);
  } finally {
    r.disconnect();
  }
}

const info = (text: string, key: string): string | undefined =>
  new RegExp(`^${key}:(.*)$`, 'm').exec(text)?.[1]?.trim();

export async function startSentinelSetup(
  opts: { masterName?: string; downAfterMs?: number } = {},
): Promise<TestSentinelSetup> {
  const masterName = opts.masterName ?? 'idsync-master';
  const downAfterMs = opts.downAfterMs ?? 1_000;
  const password = 'data-node-pass-7f3c91';
  const sentinelPassword = 'sentinel-pass-2b8e44';
  const dir = await mkdtemp(join(tmpdir(), 'idsync-sentinel-'));
  const lines: string[] = [];
  const nodes = new Map<number, ChildProcess>();
  const sentinelChildren: ChildProcess[] = [];

  const dataArgs = (port: number, name: string) => [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    dir,
    '--dbfilename',
    `${name}.rdb`,
    '--save',
    '',
    '--appendonly',
    'no',
    '--requirepass',
    password,
    '--masterauth',
    password,
  ];
  const masterPort = await freePort();
  nodes.set(masterPort, spawnServer(dataArgs(masterPort, 'master'), lines, `[master:${masterPort}]`));
  const replicaPort = await freePort();
  nodes.set(
    replicaPort,
    spawnServer(
      [...dataArgs(replicaPort, 'replica'), '--replicaof', HOST, String(masterPort)],
      lines,
      `[replica:${replicaPort}]`,
    ),
  );

  const sentinels: Array<{ host: string; port: number }> = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${i}.conf`);
    // A sentinel rewrites its config file (what it learnt about the others): one file each.
    await writeFile(
      conf,
      [
        `port ${port}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        `requirepass ${sentinelPassword}`,
        `sentinel monitor ${masterName} ${HOST} ${masterPort} 2`,
        `sentinel auth-pass ${masterName} ${password}`,
        `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
        `sentinel failover-timeout ${masterName} 10000`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'),
    );
    sentinelChildren.push(spawnServer([conf, '--sentinel'], lines, `[sentinel:${port}]`));
    sentinels.push({ host: HOST, port });
  }

  const askSentinel = <T>(f: (r: Redis) => Promise<T>) => {
    const s = sentinels[0];
    if (!s) throw new Error('no sentinel');
    return withClient(s.port, sentinelPassword, f);
  };
  const masterPortNow = async (): Promise<number> => {
    const addr = (await askSentinel((r) => r.call('SENTINEL', 'get-master-addr-by-name', masterName))) as
      | [string, string]
      | null;
    if (!addr) throw new Error(`the sentinels know no master ${masterName}`);
    return Number(addr[1]);
  };

  const setup: TestSentinelSetup = {
    masterName,
    password,
    sentinelPassword,
    sentinels,
    dir,
    masterPort: masterPortNow,
    async kill(port) {
      const child = nodes.get(port);
      if (!child) throw new Error(`no data node on ${port}`);
      const gone = exited(child);
      child.kill('SIGKILL');
      await gone;
    },
    async waitForNewMaster(port, timeoutMs = 60_000) {
      return until(
        async () => {
          const now = await masterPortNow();
          if (now === port) return undefined;
          // Promoted: the new master says so itself.
          const role = await withClient(now, password, (r) => r.info('replication'));
          return info(role, 'role') === 'master' ? now : undefined;
        },
        `the sentinels to promote a new master instead of ${port}`,
        timeoutMs,
      );
    },
    log: () => [...lines],
    async stop() {
      const all = [...sentinelChildren, ...nodes.values()];
      await Promise.all(
        all.map((c) => {
          const gone = exited(c);
          c.kill('SIGTERM');
          return gone;
        }),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    // Ready when the replica is in sync and every sentinel knows the replica and the two others:
    // only then can a failover happen.
    await until(
      async () => {
        const repl = await withClient(replicaPort, password, (r) => r.info('replication'));
        return info(repl, 'master_link_status') === 'up' ? true : undefined;
      },
      'the replica to sync with the master',
      30_000,
    );
    for (const s of sentinels) {
      await until(
        async () => {
          const raw = (await withClient(s.port, sentinelPassword, (r) =>
            r.call('SENTINEL', 'master', masterName),
          )) as string[];
          const m = new Map<string, string>();
          for (let i = 0; i + 1 < raw.length; i += 2) m.set(String(raw[i]), String(raw[i + 1]));
          return m.get('num-slaves') === '1' && m.get('num-other-sentinels') === '2' ? true : undefined;
        },
        `sentinel ${s.port} to know the replica and the other sentinels`,
        30_000,
      );
    }
  } catch (err) {
    await setup.stop();
    throw new Error(`${(err as Error).message}\n${lines.slice(-30).join('\n')}`);
  }
  return setup;
}
