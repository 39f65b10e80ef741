// Checks recorded HTTP exchanges against spec/devin-v3-identity.openapi.yaml with ajv (JSON Schema
// 2020-12, which OpenAPI 3.1 schemas are). Used by the contract tests for both directions: what
// the client sends and what the simulator answers.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse } from 'yaml';

export const SPEC_PATH = fileURLToPath(new URL('../../spec/devin-v3-identity.openapi.yaml', import.meta.url));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

export interface Exchange {
  method: string;
  /** Raw request path, without the query string. */
  path: string;
  query: URLSearchParams;
  requestContentType: string | undefined;
  requestBody: string;
  status: number;
  responseContentType: string | undefined;
  responseBody: string;
}

export interface Operation {
  method: string;
  /** Template as written in the spec, e.g. `/v3/enterprise/members/users/{user_id}`. */
  template: string;
}

interface CompiledOperation extends Operation {
  matcher: RegExp;
  op: Obj;
  pathItem: Obj;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

export class OpenApiContract {
  private readonly doc: Obj;
  private readonly ajv: Ajv2020;
  private readonly ops: CompiledOperation[] = [];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(specPath: string = SPEC_PATH) {
    this.doc = parse(readFileSync(specPath, 'utf8')) as Obj;
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    this.ajv.addSchema(this.doc as object, 'openapi');
    const paths = this.doc.paths as Obj;
    for (const [template, item] of Object.entries(paths)) {
      for (const m of METHODS) {
        const op = (item as Obj)[m];
        if (!op) continue;
        const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
        this.ops.push({
          method: m.toUpperCase(),
          template,
          matcher: new RegExp(`^${pattern}$`),
          op: op as Obj,
          pathItem: item as Obj,
        });
      }
    }
  }

  operations(): Operation[] {
    return this.ops.map(({ method, template }) => ({ method, template }));
  }

  /**
   * The spec operation an exchange belongs to. The spec writes `/v3/...`; the same operations are
   * documented under `/v3beta1/...` (x-also-documented-at), so those map onto the `/v3` entry.
   */
  find(method: string, path: string): CompiledOperation | undefined {
    const direct = this.ops.find((o) => o.method === method && o.matcher.test(path));
    if (direct) return direct;
    if (path.startsWith('/v3beta1/enterprise/')) {
      const v3 = `/v3${path.slice('/v3beta1'.length)}`;
      return this.ops.find((o) => o.method === method && o.matcher.test(v3));
    }
    return undefined;
  }

  /** Problems with the request a client sent (empty = conforms). */
  checkRequest(x: Exchange): string[] {
    if (x.method === 'GET' && x.path === '/v3beta1/enterprise/self') return [];
    const found = this.find(x.method, x.path);
    if (!found) return [`${x.method} ${x.path}: no such operation in the spec`];
    const problems: string[] = [];
    const params = [
      ...(((found.pathItem.parameters as Json[]) ?? []) as Obj[]),
      ...(((found.op.parameters as Json[]) ?? []) as Obj[]),
    ].map((p) => this.deref(p));
    const queryParams = params.filter((p) => p.in === 'query');
    for (const key of new Set(x.query.keys())) {
      const spec = queryParams.find((p) => p.name === key);
      if (!spec) {
        problems.push(`query parameter ${key} is not in the spec`);
        continue;
      }
      const value = coerce(x.query.get(key) ?? '', spec.schema as Obj);
      const err = this.validate(spec.schema as Obj, value);
      if (err) problems.push(`query ${key}=${x.query.get(key)}: ${err}`);
    }
    for (const p of queryParams) {
      if (p.required === true && !x.query.has(String(p.name))) problems.push(`query ${p.name} is required`);
    }
    const body = found.op.requestBody as Obj | undefined;
    if (body) {
      const schema = ((body.content as Obj)?.['application/json'] as Obj | undefined)?.schema as
        | Obj
        | undefined;
      if (!x.requestContentType?.startsWith('application/json')) {
        problems.push(`request content-type ${x.requestContentType} is not application/json`);
      }
      const parsed = parseJson(x.requestBody);
      if (parsed.error) problems.push(`request body is not JSON: ${parsed.error}`);
      else if (schema) {
        const err = this.validate(schema, parsed.value);
        if (err) problems.push(`request body: ${err}`);
      }
    } else if (x.requestBody.length > 0) {
      problems.push('request carries a body the operation does not take');
    }
    return problems.map((p) => `${x.method} ${x.path}: ${p}`);
  }

  /** Problems with a response the server gave (empty = conforms). */
  checkResponse(x: Exchange): string[] {
    let schema: Obj | undefined;
    if (x.method === 'GET' && x.path === '/v3beta1/enterprise/self' && x.status === 200) {
      schema = { $ref: '#/components/schemas/ServiceUserSelfV3beta1' };
    } else {
      const found = this.find(x.method, x.path);
      if (!found) return [`${x.method} ${x.path}: no such operation in the spec`];
      const responses = found.op.responses as Obj;
      const declared = responses[String(x.status)] ?? responses.default;
      if (!declared) {
        // Shared error statuses the spec's ProblemDetail covers for every operation.
        if ([401, 403, 404, 409, 422, 429].includes(x.status) || x.status >= 500) {
          schema = { $ref: '#/components/schemas/ProblemDetail' };
        } else {
          return [`${x.method} ${x.path}: status ${x.status} is not declared`];
        }
      } else {
        const response = this.deref(declared as Obj);
        const content = response.content as Obj | undefined;
        schema = ((content?.['application/json'] as Obj | undefined)?.schema as Obj | undefined) ?? undefined;
      }
    }
    const problems: string[] = [];
    if (!x.responseContentType?.startsWith('application/json')) {
      problems.push(`response content-type ${x.responseContentType} is not application/json`);
    }
    const parsed = parseJson(x.responseBody);
    if (parsed.error) problems.push(`response body is not JSON: ${parsed.error}`);
    else if (schema) {
      const err = this.validate(schema, parsed.value);
      if (err) problems.push(`response ${x.status}: ${err}`);
    }
    return problems.map((p) => `${x.method} ${x.path}: ${p}`);
  }

  private deref(node: Obj): Obj {
    let current = node;
    while (typeof current.$ref === 'string') {
      const pointer = current.$ref.replace(/^#\//, '').split('/');
      let target: Json = this.doc;
      for (const part of pointer)
        target = (target as Obj)[part.replace(/~1/g, '/').replace(/~0/g, '~')] as Json;
      current = target as Obj;
    }
    return current;
  }

  private validate(schema: Obj, value: unknown): string | undefined {
    const key = JSON.stringify(schema);
    let fn = this.validators.get(key);
    if (!fn) {
      fn = this.ajv.compile(rebase(schema) as object);
      this.validators.set(key, fn);
    }
    if (fn(value)) return undefined;
    return this.ajv.errorsText(fn.errors, { separator: '; ' });
  }
}

/** Local `#/components/...` refs point into the registered document once a schema stands alone. */
function rebase(node: Json): Json {
  if (Array.isArray(node)) return node.map(rebase);
  if (node && typeof node === 'object') {
    const out: Obj = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `openapi${v}` : rebase(v);
    }
    return out;
  }
  return node;
}

function coerce(raw: string, schema: Obj): unknown {
  const types = schemaTypes(schema);
  if ((types.has('integer') || types.has('number')) && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (types.has('boolean') && (raw === 'true' || raw === 'false')) return raw === 'true';
  return raw;
}

function schemaTypes(schema: Obj): Set<string> {
  const out = new Set<string>();
  if (typeof schema.type === 'string') out.add(schema.type);
  for (const alt of (schema.anyOf as Obj[] | undefined) ?? []) {
    if (typeof alt.type === 'string') out.add(alt.type);
  }
  return out;
}

function parseJson(text: string): { value?: unknown; error?: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
