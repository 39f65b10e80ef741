// Starts `idsync simulator` as a child process, so the benchmark's client and the server do not
// share one event loop (2 cores here: one each).
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimulatorSeed } from '../../src/simulator/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SimulatorProcess {
  url: string;
  stop(): Promise<void>;
}

export async function startSimulatorProcess(
  seed: SimulatorSeed,
  latencyMs: number,
): Promise<SimulatorProcess> {
  const seedFile = join(tmpdir(), `idsync-bench-seed-${process.pid}-${Date.now()}.json`);
  writeFileSync(seedFile, JSON.stringify(seed));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/cli/main.ts'),
      'simulator',
      '--port',
      '0',
      '--seed',
      seedFile,
      '--latency',
      String(latencyMs),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`simulator did not start in 30 s: ${out}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /IDSYNC_SIMULATOR_URL=(\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`simulator exited with ${code}: ${out}`)));
  });
  return { url, stop: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
