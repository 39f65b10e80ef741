// The JSON Schema editors use: committed, current, and in agreement with the zod schema.
import { readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderConfigSchema } from '../../../src/cli/schemaCommand.js';
import { ConfigSchema, configJsonSchema } from '../../../src/config/index.js';

const committed = () => readFile('config/idsync.schema.json', 'utf8');

describe('config/idsync.schema.json', () => {
  it('is exactly what `idsync schema` prints (regenerate: npm run idsync -- schema > config/idsync.schema.json)', async () => {
    expect(await committed()).toBe(renderConfigSchema());
  });

  it('is draft 2020-12 and describes every property', () => {
    const schema = configJsonSchema();
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const undocumented: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      const props = n.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [key, sub] of Object.entries(props ?? {})) {
        const isDiscriminator = key === 'type' && typeof sub.const === 'string';
        if (!isDiscriminator && typeof sub.description !== 'string') undocumented.push(`${path}.${key}`);
        walk(sub, `${path}.${key}`);
      }
      for (const k of ['items', 'oneOf', 'anyOf', 'allOf']) {
        const v = n[k];
        if (!Array.isArray(v)) walk(v, `${path}.${k}`);
        else
          for (const [i, s] of v.entries()) {
            walk(s, `${path}.${k}[${i}]`);
          }
      }
    };
    walk(schema, '$');
    expect(undocumented).toEqual([]);
  });

  describe('agrees with the loader on whole documents', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(JSON.parse(await committed()) as object);
    const example = parse(await readFile('config/example-file.yaml', 'utf8')) as Record<string, unknown>;
    const base = {
      source: { type: 'file', path: 'dir.json' },
      devin: { token: 'cog_x' },
      mappings: [{ group: { name: 'devin-admins' }, enterpriseRole: 'account_admin' }],
    };

    it('accepts the example', () => {
      expect(validate(example), ajv.errorsText(validate.errors)).toBe(true);
      expect(ConfigSchema.safeParse(example).success).toBe(true);
    });

    // The other examples are what admins copy: each must stay valid as the schema changes.
    it.each(['example-openldap.yaml', 'example-activedirectory.yaml', 'example-entra.yaml'])(
      'accepts config/%s',
      async (name) => {
        // ${VAR} references get stand-ins of the kind each names (the loader substitutes them).
        const text = (await readFile(`config/${name}`, 'utf8')).replace(/\$\{(\w+)\}/g, (_, v: string) =>
          v.endsWith('URL') ? 'http://127.0.0.1:8080' : 'cog_stand_in_value_0123456789',
        );
        const doc = parse(text) as Record<string, unknown>;
        expect(validate(doc), ajv.errorsText(validate.errors)).toBe(true);
        const parsed = ConfigSchema.safeParse(doc);
        expect(parsed.success, JSON.stringify(parsed.error?.issues.slice(0, 3))).toBe(true);
      },
    );

    it.each([
      ['an unknown key', { ...base, extra: 1 }],
      ['both token and tokenFile', { ...base, devin: { token: 'a', tokenFile: 'b' } }],
      ['no token', { ...base, devin: {} }],
      [
        'a selector with two keys',
        { ...base, mappings: [{ group: { name: 'a', id: 'b' }, enterpriseRole: 'x' }] },
      ],
      [
        'orgs without enterpriseRole',
        { ...base, mappings: [{ group: { name: 'a' }, orgs: [{ org: 'A', role: 'r' }] }] },
      ],
      [
        'provisionUsers without enterpriseRole',
        { ...base, mappings: [{ group: { name: 'a' }, provisionUsers: true }] },
      ],
      [
        'ldap without a password',
        {
          ...base,
          source: {
            type: 'ldap',
            url: 'ldaps://dc',
            bindDN: 'x',
            profile: 'openldap',
            userBase: 'u',
            groupBase: 'g',
          },
        },
      ],
      [
        'server with adminToken and adminTokenFile',
        { ...base, server: { adminToken: 'a', adminTokenFile: 'b' } },
      ],
      ['a percentage over 100', { ...base, guardrails: { maxUserRemovalPercent: 101 } }],
    ])('rejects %s', (_name, doc) => {
      expect(validate(doc)).toBe(false);
      expect(ConfigSchema.safeParse(doc).success).toBe(false);
    });
  });
});
