// bench/devin-snapshot: how long DevinClient takes to read everything the reconciler needs from an
// enterprise of 10,000 users, 1,000 IdP groups and 20 orgs, at 0 ms and 20 ms of server latency,
// against the fewest page requests the API's 200-item pages allow.
import { DevinClient, MAX_PAGE_SIZE, readDevinSnapshot } from '../../src/devin/index.js';
import { generateSeed, type SimulatorSeed } from '../../src/simulator/index.js';
import { startSimulatorProcess } from '../support/processes.js';

const USERS = 10_000;
const GROUPS = 1_000;
const ORGS = 20;
const TOKEN = 'cog_bench_token';
const RUNS = 3;

const pages = (n: number) => Math.max(1, Math.ceil(n / MAX_PAGE_SIZE));

/** The fewest list requests that can read this state: every listing at 200 items a page. */
function minimumPageRequests(seed: SimulatorSeed): number {
  const direct = seed.users.filter((u) => u.enterprise_role_id || Object.keys(u.org_roles ?? {}).length > 0);
  const enterpriseMapped = new Set(
    seed.group_mappings.filter((m) => m.org_id === null).map((m) => m.idp_group_name),
  );
  let total =
    1 /* orgs */ +
    1 /* roles */ +
    pages(direct.length) +
    pages(seed.idp_groups.length) +
    pages(enterpriseMapped.size);
  for (const org of seed.organizations) {
    const mapped = seed.group_mappings.filter((m) => m.org_id === org.org_id).length;
    const members = direct.filter((u) => u.org_roles?.[org.org_id]).length;
    total += pages(mapped) + pages(members);
  }
  return total;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const seed = generateSeed({ users: USERS, groups: GROUPS, orgs: ORGS, token: TOKEN, seed: 1 });
const minimum = minimumPageRequests(seed);
console.log(
  `enterprise: ${USERS} users, ${GROUPS} IdP groups, ${ORGS} orgs; ${RUNS} runs per row, median shown`,
);
console.log(`minimum page requests at first=${MAX_PAGE_SIZE}: ${minimum}`);
console.log('');
console.log('latency  listings-in-parallel  wall-time  requests  vs-minimum  users  groups  mappings');

for (const latency of [0, 20]) {
  const sim = await startSimulatorProcess(seed, latency);
  try {
    for (const concurrency of [1, 8]) {
      const times: number[] = [];
      let requests = 0;
      let shape = '';
      for (let run = 0; run < RUNS; run++) {
        const client = new DevinClient({
          baseUrl: sim.url,
          token: TOKEN,
          maxRequestsPerSecond: 0,
          maxConcurrency: concurrency,
        });
        const started = performance.now();
        const snap = await readDevinSnapshot(client, { concurrency });
        times.push(performance.now() - started);
        requests = client.stats().requests;
        shape = `${String(snap.users.length).padStart(5)}  ${String(snap.registeredGroups.length).padStart(6)}  ${String(snap.groupRoles.length).padStart(8)}`;
        client.close();
      }
      console.log(
        `${`${latency} ms`.padStart(7)}  ${String(concurrency).padStart(20)}  ${`${median(times).toFixed(0)} ms`.padStart(9)}  ${String(requests).padStart(8)}  ${`${(requests / minimum).toFixed(2)}x`.padStart(10)}  ${shape}`,
      );
    }
  } finally {
    await sim.stop();
  }
}
console.log('');
console.log('method: simulator in a child process on 127.0.0.1 (fixed latency per request via --latency),');
console.log('client in this process with no client-side rate limit; wall time of readDevinSnapshot().');
