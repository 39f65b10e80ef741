// An account whose default roles have generated ids (`role-<32 hex>`) and only well-known names, as
// Cognition's provider says real accounts have: config/simulator-seed-generated-roles.json, driven
// through the real pipeline (readDevinSnapshot → planSync → executePlan) over loopback, under both
// simulator semantics. The generated ids sort Member before Admin on purpose.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executePlan } from '../../src/apply/inline/index.js';
import { type LoadedConfig, loadConfig } from '../../src/config/index.js';
import { DevinClient, readDevinSnapshot } from '../../src/devin/index.js';
import { type DirectoryFile, snapshotFromFile } from '../../src/directory/file/fileSource.js';
import { type Plan, planSync } from '../../src/reconcile/index.js';
import {
  loadSeedFile,
  type RunningSimulator,
  SEMANTICS,
  type SimulatorSeed,
  startSimulator,
} from '../../src/simulator/index.js';
import { FileStateStore } from '../../src/state/fileStateStore.js';

const SEED = fileURLToPath(new URL('../../config/simulator-seed-generated-roles.json', import.meta.url));
const ADMIN = 'role-f4e1c9a27b3d4e5f8a6b0c1d2e3f4a5b';
const MEMBER = 'role-0b9d8c7e6f5a4b3c2d1e0f9a8b7c6d5e';
const ORG_ADMIN = 'role-e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2';
const ORG_MEMBER = 'role-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d';
const ENG = 'org-7f3a9c2e1b4d';

// Role names, as a config for such an account is written (ids differ per account).
const CONFIG = `
source: { type: file, path: ./directory.json }
devin:
  baseUrl: http://127.0.0.1:1
  token: cog_demo_idsync_token
  maxRequestsPerSecond: 0
mappings:
  - group: { name: devin-admins }
    enterpriseRole: Admin
    orgs: [{ org: Engineering, role: Admin }]
    provisionUsers: true
  - group: { name: devin-users }
    enterpriseRole: Member
    orgs: [{ org: Engineering, role: Member }]
    provisionUsers: true
scope:
  emailDomains: [corp.example]
  groupNamePattern: "devin-*"
  deprovision: remove
  adopt: matching
state: { file: ./state.json }
guardrails:
  maxUserRemovals: 10
  maxUserRemovalPercent: 100
  maxGroupRemovals: 10
  maxSourceShrinkPercent: 100
`;

const ROOT = { id: 'u-root', email: 'root@corp.example', name: 'Root Admin' };
const ANN = { id: 'u-ann', email: 'ann.member@corp.example', name: 'Ann Member' };
const NINA = { id: 'u-nina', email: 'nina.new@corp.example', name: 'Nina New' };

function directory(admins: string[], users: string[], disabled: string[] = []): DirectoryFile {
  return {
    users: [ROOT, ANN, NINA].map((u) => ({ ...u, enabled: !disabled.includes(u.id) })),
    groups: [
      { id: 'g-admins', name: 'devin-admins', members: admins },
      { id: 'g-users', name: 'devin-users', members: users },
    ],
  };
}

let seed: SimulatorSeed;
let config: LoadedConfig;
let dir: string;

beforeAll(async () => {
  seed = await loadSeedFile(SEED);
  dir = await mkdtemp(join(tmpdir(), 'idsync-genroles-'));
  await writeFile(join(dir, 'idsync.yaml'), CONFIG);
  config = await loadConfig(join(dir, 'idsync.yaml'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(SEMANTICS)('default roles with generated ids (%s semantics)', (semantics) => {
  let sim: RunningSimulator;
  let client: DevinClient;
  let state: FileStateStore;

  beforeAll(async () => {
    sim = await startSimulator({ seed, semantics });
    client = new DevinClient({
      ...config.devin,
      baseUrl: sim.url,
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
    });
  });
  afterAll(async () => {
    client.close();
    await sim.close();
  });
  beforeEach(async () => {
    sim.reset();
    state = new FileStateStore(join(dir, `state-${semantics}-${Date.now()}.json`));
  });
  afterEach(async () => {
    await rm(state.file, { force: true });
  });

  const plan = async (d: DirectoryFile): Promise<Plan> =>
    planSync({
      policy: config.policy,
      directory: snapshotFromFile(d, 'file:test'),
      devin: await readDevinSnapshot(client),
      ledger: await state.load(),
    });
  const access = (email: string) => {
    const u = sim.dump().users.find((x) => x.email === email);
    return u ? { role: u.enterprise_role_id, orgs: u.org_roles } : undefined;
  };
  // The runs below empty a mapped group, which guardrails hold for a human: approve them.
  const applyAll = async (p: Plan) => {
    const result = await executePlan(p, { client, state, allowRemovals: 1_000 });
    expect(result.results.filter((r) => r.status === 'failed')).toEqual([]);
    return result;
  };

  it('ranks Admin above Member and invites a new admin as Admin', async () => {
    // Nina is in both groups: Admin must win although its generated id sorts after Member's.
    const d = directory(['u-root', 'u-nina'], ['u-root', 'u-nina', 'u-ann']);
    const p = await plan(d);
    expect(p.ops.find((o) => o.kind === 'inviteUsers')).toMatchObject({
      emails: ['nina.new@corp.example'],
      role: { id: ADMIN, name: 'Admin' },
    });
    expect(p.ops.find((o) => o.key === `addOrgUser/${ENG}/nina.new@corp.example`)).toMatchObject({
      role: { id: ORG_ADMIN },
    });
    // Root, adopted, keeps Admin: no demotion is planned for the higher role.
    expect(p.ops.filter((o) => 'email' in o && o.email === ROOT.email)).toEqual([]);
    await applyAll(p);
    expect(access(NINA.email)).toEqual({ role: ADMIN, orgs: { [ENG]: ORG_ADMIN } });
    expect(access(ROOT.email)).toEqual({ role: ADMIN, orgs: { [ENG]: ORG_ADMIN } });
    expect(access(ANN.email)).toEqual({ role: MEMBER, orgs: { [ENG]: ORG_MEMBER } });
    expect((await plan(d)).ops).toEqual([]);
  });

  it('never removes or demotes the only direct admin, and says so', async () => {
    await applyAll(await plan(directory(['u-root'], ['u-ann'])));
    expect((await state.load()).users).toContain(ROOT.email);

    // Root is moved to the users group (a demotion: only the org role may change), then leaves
    // (a removal): the enterprise admin role is kept both times.
    const demoted = directory([], ['u-root', 'u-ann']);
    const p1 = await plan(demoted);
    expect(p1.ops.filter((o) => 'email' in o && o.email === ROOT.email).map((o) => o.kind)).toEqual([
      'setOrgUserRole',
    ]);
    expect(p1.warnings).toContainEqual(
      expect.objectContaining({ code: 'last-admin', subject: 'root@corp.example' }),
    );
    await applyAll(p1);
    expect(access(ROOT.email)).toEqual({ role: ADMIN, orgs: { [ENG]: ORG_MEMBER } });

    const left = directory([], ['u-ann'], ['u-root']);
    const p2 = await plan(left);
    expect(p2.ops.filter((o) => 'email' in o && o.email === ROOT.email)).toEqual([]);
    expect(p2.warnings).toContainEqual(
      expect.objectContaining({ code: 'last-admin', subject: 'root@corp.example' }),
    );
    await applyAll(p2);
    expect(access(ROOT.email)).toEqual({ role: ADMIN, orgs: { [ENG]: ORG_MEMBER } });
  });

  it('the simulator, too, refuses to remove the last holder of a generated-id Admin role', async () => {
    const root = seed.users.find((u) => u.email === ROOT.email)?.user_id as string;
    await expect(client.updateUserRole(root, MEMBER)).rejects.toMatchObject({ status: 409 });
  });
});
