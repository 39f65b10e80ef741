// What the Entra daemon tests share (delta rounds, subscriptions, the daemon end to end): a small
// tenant for the Graph simulator (a mapped group with a nested one, an unrelated group), and an
// idsync config that reads it. The config goes through the real loader, so the tests see the
// source exactly as the daemon does.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type LoadedConfig, loadConfig } from '../../src/config/index.js';
import type { EntraSourceConfig } from '../../src/config/types.js';
import type { GraphSimulator, SimGroup, SimUser } from './graphSimulator/index.js';
import { seedGuid } from './graphSimulator/index.js';

export const TENANT = '5c1f2e3d-4b5a-4c6d-8e7f-9a0b1c2d3e4f';
export const CLIENT = '8d7c6b5a-4e3f-4a1b-9c0d-1e2f3a4b5c6d';
export const CLIENT_SECRET = 'entra-rig~secret.9f3a+c2';

export const uid = (n: number): string => seedGuid(`entra-rig:user:${n}`);
export const gid = (name: string): string => seedGuid(`entra-rig:group:${name}`);

export function person(n: number, domain = 'corp.example'): SimUser {
  const name = `person${String(n).padStart(3, '0')}`;
  return {
    id: uid(n),
    displayName: `Person ${n}`,
    mail: `${name}@${domain}`,
    userPrincipalName: `${name}@${domain}`,
    accountEnabled: true,
  };
}

/**
 * `devin-staff` (mapped) holds people 1–5 and the nested group `sre` (people 6–7); `unrelated`
 * holds person 8; person 9 is in no group.
 */
export function tenant(): { users: SimUser[]; groups: SimGroup[] } {
  const users = Array.from({ length: 9 }, (_, i) => person(i + 1));
  const groups: SimGroup[] = [
    {
      id: gid('staff'),
      displayName: 'devin-staff',
      members: [uid(1), uid(2), uid(3), uid(4), uid(5), gid('sre')],
    },
    { id: gid('sre'), displayName: 'sre', members: [uid(6), uid(7)] },
    { id: gid('unrelated'), displayName: 'unrelated', members: [uid(8)] },
  ];
  return { users, groups };
}

export interface EntraConfigInput {
  dir: string;
  sim: GraphSimulator;
  devinUrl: string;
  devinToken?: string;
  redisUrl?: string;
  orgs?: readonly string[];
  mode?: 'auto' | 'review';
  /** Extra lines inside `source:` (indented two spaces already). */
  source?: string;
  /** Extra YAML at the end (server, schedule …). */
  extra?: string;
}

export function entraYaml(c: EntraConfigInput): string {
  return `source:
  type: entra
  tenantId: ${TENANT}
  clientId: ${CLIENT}
  clientSecret: "${CLIENT_SECRET}"
  authorityHost: ${c.sim.url}
  graphBaseUrl: ${c.sim.url}
  caFile: ${c.sim.caFile}
  timeoutMs: 5000
  retryBudgetMs: 1500
${c.source ?? ''}
devin:
  baseUrl: ${c.devinUrl}
  token: ${c.devinToken ?? 'cog_entra_rig_token_0c1d'}
  maxRequestsPerSecond: 0
  maxConcurrency: 8
  timeoutMs: 5000
mappings:
  - group: { name: devin-staff }
    enterpriseRole: account_member
    orgs:
${(c.orgs ?? []).map((o) => `      - { org: "${o}", role: org_member }`).join('\n') || '      []'}
    provisionUsers: true
scope:
  emailDomains: [corp.example]
  groupNamePattern: "devin-*"
  deprovision: remove
  adopt: matching
mode: ${c.mode ?? 'auto'}
${c.redisUrl ? `redis:\n  url: ${c.redisUrl}\n  keepRuns: 20\n` : ''}${c.extra ?? ''}
`;
}

export function writeEntraConfig(c: EntraConfigInput, name = 'idsync.yaml'): string {
  const file = join(c.dir, name);
  writeFileSync(file, entraYaml(c));
  return file;
}

export async function loadEntraConfig(
  c: EntraConfigInput,
  name?: string,
): Promise<{ config: LoadedConfig; source: EntraSourceConfig }> {
  const config = await loadConfig(writeEntraConfig(c, name));
  if (config.source.type !== 'entra') throw new Error('not an entra config');
  return { config, source: config.source };
}
