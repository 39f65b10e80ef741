// A private redis-server for tests: a free port on 127.0.0.1, a temp dir, no config
// file, no persistence unless a test restarts it. Each test file starts its own, so files run in
// parallel without sharing queues, and stops it by PID.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /**
   * Stops the server with SHUTDOWN SAVE (so nothing is lost, like a Redis with persistence), keeps
   * it down for `downMs`, and starts it again on the same port from the saved dump.
   */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function spawnRedis(port: number, dir: string): ChildProcess {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Drained so a chatty server never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

async function waitForPing(url: string, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server on ${url} did not answer PING`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

/** `port`: listen there (a port a daemon was already told to use, while nothing listened on it). */
export async function startRedis(opts: { port?: number } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'idsync-redis-'));
  const port = opts.port ?? (await freePort());
  const url = `redis://127.0.0.1:${port}`;
  let child = spawnRedis(port, dir);
  await waitForPing(url, child);

  return {
    url,
    port,
    dir,
    async restart(downMs = 1000) {
      const admin = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      admin.on('error', () => {});
      const gone = exited(child);
      // SHUTDOWN closes the connection instead of answering.
      await admin.shutdown('SAVE').catch(() => undefined);
      admin.disconnect();
      await gone;
      await new Promise((r) => setTimeout(r, downMs));
      child = spawnRedis(port, dir);
      await waitForPing(url, child);
    },
    async stop() {
      const gone = exited(child);
      child.kill('SIGTERM');
      await gone;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
