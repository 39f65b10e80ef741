// The HTTP surface as data: each route names its templates, who may call it, and a thin handler
// that parses the request, calls the state model and shapes the response. server.ts mounts them.
import type { z } from 'zod';
import { IdpGroupsBulkCreateRequest, RoleIdRequest, UserBulkCreateRequest } from '../devin/schemas.js';
import { decodeCursor, encodeCursor, type PageResult, parseFirst } from './pagination.js';
import { forbidden, invalid, SimError, statusTitle, unauthorized, unprocessable } from './problems.js';
import type { ListQuery, SimState, TokenInfo } from './state.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export type Access =
  /** Any valid token. */
  | { kind: 'any' }
  /** An enterprise token (org_id null) holding at least one of `perms` ([] = any enterprise token). */
  | { kind: 'enterprise'; perms: readonly string[] }
  /** /v3beta1/organizations/{org_id}/... reads: that org's token with ViewOrgMembership, or an enterprise reader. */
  | { kind: 'org-scoped' }
  /** Authenticated, then 501. */
  | { kind: 'not-implemented' };

export interface RouteCtx {
  state: SimState;
  token: TokenInfo;
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  /** Identity of the list being paged (route without version prefix + path params): cursors are bound to it. */
  list: string;
}

export interface RouteResult {
  body: unknown;
  applied: boolean;
}

export interface RouteDef {
  method: HttpMethod;
  /** Full templates with {params}, e.g. ['/v3/enterprise/roles', '/v3beta1/enterprise/roles']. */
  templates: readonly string[];
  access: Access;
  /** POST/PATCH/DELETE on an identity route. */
  effectful: boolean;
  handle(ctx: RouteCtx): RouteResult;
}

// Permissions. Docs disagree between snapshots on reads (Manage… in older pages,
// View… in newer ones), so a read accepts either; whether Manage implies View is NOT FOUND.
const READ = ['ViewAccountMembership', 'ManageAccountMembership'] as const;
const WRITE = ['ManageAccountMembership'] as const;
const ORGS = ['ManageOrganizations'] as const;

export const VERSION_PREFIX_RE = /^\/v3(?:beta1)?(?=\/)/;

const both = (path: string) => [`/v3${path}`, `/v3beta1${path}`];

// ---------------------------------------------------------------- request helpers

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const errors = r.error.issues.map((i) => ({
    loc: ['body', ...i.path.map((p) => (typeof p === 'number' ? p : String(p)))],
    msg: i.message,
    type: i.code,
  }));
  throw unprocessable(errors.map((e) => `${e.loc.join('.')}: ${e.msg}`).join('; '), errors);
}

function listQuery(ctx: RouteCtx, withEmail: boolean): ListQuery {
  const first = parseFirst(ctx.query.first);
  const afterKey = decodeCursor(ctx.query.after, ctx.list);
  const q: ListQuery = { first, afterKey };
  if (withEmail && ctx.query.email !== undefined) {
    if (typeof ctx.query.email !== 'string')
      throw invalid(['query', 'email'], 'email must be a single value');
    q.email = ctx.query.email;
  }
  return q;
}

function page<T>(r: PageResult<T>, list: string) {
  return {
    items: r.items,
    end_cursor: r.lastKey === null ? null : encodeCursor(list, r.lastKey),
    has_next_page: r.hasNext,
    total: r.total,
  };
}

const read = (body: unknown): RouteResult => ({ body, applied: false });
const p = (ctx: RouteCtx, name: string) => ctx.params[name] as string;

// ---------------------------------------------------------------- auth

export function authenticate(state: SimState, header: string | undefined): TokenInfo {
  if (!header) throw unauthorized('Missing Authorization header; send "Authorization: Bearer <token>"');
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!m) throw unauthorized('The Authorization header must use the Bearer scheme');
  const token = state.token(m[1] as string);
  if (!token) throw unauthorized('Invalid or expired API token');
  return token;
}

const missing = (perms: readonly string[]) =>
  forbidden(`This endpoint requires the ${perms.join(' or ')} permission`);

export function authorize(access: Access, token: TokenInfo, params: Record<string, string>): void {
  switch (access.kind) {
    case 'any':
    case 'not-implemented':
      return;
    case 'enterprise':
      if (token.org_id !== null)
        throw forbidden(
          'Organization service users cannot call enterprise endpoints; use an enterprise service user',
        );
      if (access.perms.length > 0 && !access.perms.some((x) => token.permissions.has(x)))
        throw missing(access.perms);
      return;
    case 'org-scoped':
      if (token.org_id !== null) {
        if (token.org_id !== params.org_id)
          throw forbidden('This organization token belongs to another organization');
        if (!token.permissions.has('ViewOrgMembership')) throw missing(['ViewOrgMembership']);
        return;
      }
      // An enterprise service user "inherits the corresponding org-level permissions".
      if (![...READ, 'ViewOrgMembership'].some((x) => token.permissions.has(x)))
        throw missing([...READ, 'ViewOrgMembership']);
      return;
  }
}

// ---------------------------------------------------------------- routes

const ent = (perms: readonly string[]): Access => ({ kind: 'enterprise', perms });

function get(templates: readonly string[], access: Access, handle: RouteDef['handle']): RouteDef {
  return { method: 'GET', templates, access, effectful: false, handle };
}
function write(
  method: 'POST' | 'PATCH' | 'DELETE',
  templates: readonly string[],
  handle: RouteDef['handle'],
): RouteDef {
  return { method, templates, access: ent(WRITE), effectful: true, handle };
}

export const IDENTITY_ROUTES: readonly RouteDef[] = [
  // Self
  get(['/v3/self'], { kind: 'any' }, (c) =>
    read({
      principal_type: c.token.principal_type,
      service_user_id: c.token.service_user_id,
      service_user_name: c.token.service_user_name,
      org_id: c.token.org_id,
    }),
  ),
  // Older shape, no principal_type. The older docs ask for ReadAccountMeta ("granted to all service
  // users by default"); it is an /enterprise path, so organization tokens get a 403 like elsewhere.
  get(['/v3beta1/enterprise/self'], ent(['ReadAccountMeta']), (c) =>
    read({
      service_user_id: c.token.service_user_id,
      service_user_name: c.token.service_user_name,
      org_id: c.token.org_id,
    }),
  ),

  // Organizations and roles
  get(both('/enterprise/organizations'), ent(ORGS), (c) =>
    read(page(c.state.listOrganizations(listQuery(c, false)), c.list)),
  ),
  get(both('/enterprise/organizations/{org_id}'), ent(ORGS), (c) =>
    read(c.state.getOrganization(p(c, 'org_id'))),
  ),
  get(both('/enterprise/roles'), ent(READ), (c) =>
    read(page(c.state.listRoles(listQuery(c, false)), c.list)),
  ),

  // Enterprise users
  get(both('/enterprise/members/users'), ent(READ), (c) =>
    read(page(c.state.listUsers(listQuery(c, true)), c.list)),
  ),
  write('POST', both('/enterprise/members/users'), (c) => {
    const b = parseBody(UserBulkCreateRequest, c.body);
    return wrap(c.state.inviteUsers(b.emails, b.enterprise_role_id));
  }),
  get(both('/enterprise/members/users/{user_id}'), ent(READ), (c) => read(c.state.getUser(p(c, 'user_id')))),
  write('PATCH', both('/enterprise/members/users/{user_id}'), (c) =>
    wrap(c.state.updateUserRole(p(c, 'user_id'), parseBody(RoleIdRequest, c.body).role_id)),
  ),
  write('DELETE', both('/enterprise/members/users/{user_id}'), (c) =>
    wrap(c.state.removeUser(p(c, 'user_id'))),
  ),
  get(both('/enterprise/members/idp-users'), ent(READ), (c) =>
    read(page(c.state.listIdpUsers(listQuery(c, true)), c.list)),
  ),

  // Organization users (enterprise-scoped)
  get(both('/enterprise/organizations/{org_id}/members/users'), ent(READ), (c) =>
    read(page(c.state.listOrgUsers(p(c, 'org_id'), listQuery(c, true)), c.list)),
  ),
  write('POST', both('/enterprise/organizations/{org_id}/members/users/{user_id}'), (c) =>
    wrap(c.state.assignOrgRole(p(c, 'org_id'), p(c, 'user_id'), parseBody(RoleIdRequest, c.body).role_id)),
  ),
  write('PATCH', both('/enterprise/organizations/{org_id}/members/users/{user_id}'), (c) =>
    wrap(c.state.updateOrgRole(p(c, 'org_id'), p(c, 'user_id'), parseBody(RoleIdRequest, c.body).role_id)),
  ),
  write('DELETE', both('/enterprise/organizations/{org_id}/members/users/{user_id}'), (c) =>
    wrap(c.state.removeOrgRole(p(c, 'org_id'), p(c, 'user_id'))),
  ),
  get(both('/enterprise/organizations/{org_id}/members/idp-users'), ent(READ), (c) =>
    read(page(c.state.listOrgIdpUsers(p(c, 'org_id'), listQuery(c, true)), c.list)),
  ),

  // Organization users (org-scoped reads; only ever documented under /v3beta1)
  get(['/v3beta1/organizations/{org_id}/members/users'], { kind: 'org-scoped' }, (c) =>
    read(page(c.state.listOrgUsers(p(c, 'org_id'), listQuery(c, true)), c.list)),
  ),
  get(['/v3beta1/organizations/{org_id}/members/users/{user_id}'], { kind: 'org-scoped' }, (c) =>
    read(c.state.getOrgUser(p(c, 'org_id'), p(c, 'user_id'))),
  ),
  get(['/v3beta1/organizations/{org_id}/members/idp-users'], { kind: 'org-scoped' }, (c) =>
    read(page(c.state.listOrgIdpUsers(p(c, 'org_id'), listQuery(c, true)), c.list)),
  ),

  // IdP group registry
  get(both('/enterprise/idp-groups'), ent(READ), (c) =>
    read(page(c.state.listRegisteredGroups(listQuery(c, false)), c.list)),
  ),
  write('POST', both('/enterprise/idp-groups'), (c) =>
    wrap(c.state.registerGroups(parseBody(IdpGroupsBulkCreateRequest, c.body).idp_group_names)),
  ),
  write('DELETE', both('/enterprise/idp-groups/{idp_group_name}'), (c) =>
    wrap(c.state.unregisterGroup(p(c, 'idp_group_name'))),
  ),

  // Enterprise IdP group mappings
  get(both('/enterprise/members/idp-groups'), ent(READ), (c) =>
    read(page(c.state.listEnterpriseGroups(listQuery(c, false)), c.list)),
  ),
  get(both('/enterprise/members/idp-groups/{idp_group_name}'), ent(READ), (c) =>
    read(c.state.getEnterpriseGroup(p(c, 'idp_group_name'))),
  ),
  write('POST', both('/enterprise/members/idp-groups/{idp_group_name}'), (c) =>
    wrap(c.state.assignEnterpriseGroupRole(p(c, 'idp_group_name'), parseBody(RoleIdRequest, c.body).role_id)),
  ),
  write('PATCH', both('/enterprise/members/idp-groups/{idp_group_name}'), (c) =>
    wrap(c.state.updateEnterpriseGroupRole(p(c, 'idp_group_name'), parseBody(RoleIdRequest, c.body).role_id)),
  ),
  write('DELETE', both('/enterprise/members/idp-groups/{idp_group_name}'), (c) =>
    wrap(c.state.removeEnterpriseGroupRole(p(c, 'idp_group_name'))),
  ),

  // Organization IdP group mappings
  get(both('/enterprise/organizations/{org_id}/members/idp-groups'), ent(READ), (c) =>
    read(page(c.state.listOrgGroups(p(c, 'org_id'), listQuery(c, false)), c.list)),
  ),
  get(both('/enterprise/organizations/{org_id}/members/idp-groups/{idp_group_name}'), ent(READ), (c) =>
    read(c.state.getOrgGroup(p(c, 'org_id'), p(c, 'idp_group_name'))),
  ),
  write('POST', both('/enterprise/organizations/{org_id}/members/idp-groups/{idp_group_name}'), (c) =>
    wrap(
      c.state.assignOrgGroupRole(
        p(c, 'org_id'),
        p(c, 'idp_group_name'),
        parseBody(RoleIdRequest, c.body).role_id,
      ),
    ),
  ),
  write('PATCH', both('/enterprise/organizations/{org_id}/members/idp-groups/{idp_group_name}'), (c) =>
    wrap(
      c.state.updateOrgGroupRole(
        p(c, 'org_id'),
        p(c, 'idp_group_name'),
        parseBody(RoleIdRequest, c.body).role_id,
      ),
    ),
  ),
  write('DELETE', both('/enterprise/organizations/{org_id}/members/idp-groups/{idp_group_name}'), (c) =>
    wrap(c.state.removeOrgGroupRole(p(c, 'org_id'), p(c, 'idp_group_name'))),
  ),
];

function wrap(m: { value: unknown; applied: boolean }): RouteResult {
  return { body: m.value, applied: m.applied };
}

/**
 * Subset paths outside identity: they exist in the spec, so they answer 501 (after authentication)
 * rather than 404. Exactly the paths the spec lists (no /v3beta1 twins are invented for them).
 */
export const NOT_IMPLEMENTED_ROUTES: ReadonlyArray<{ method: string; route: string }> = [
  { method: 'POST', route: '/v3/enterprise/organizations' },
  { method: 'PATCH', route: '/v3/enterprise/organizations/{org_id}' },
  { method: 'DELETE', route: '/v3/enterprise/organizations/{org_id}' },
  { method: 'GET', route: '/v3/enterprise/org-group-limits' },
  { method: 'PUT', route: '/v3/enterprise/org-group-limits' },
  { method: 'GET', route: '/v3/enterprise/members/service-users' },
  ...['GET', 'POST', 'PATCH', 'DELETE'].map((method) => ({
    method,
    route: '/v3/enterprise/members/service-users/{service_user_id}',
  })),
  { method: 'GET', route: '/v3/enterprise/organizations/{org_id}/members/service-users' },
  ...['POST', 'PATCH', 'DELETE'].map((method) => ({
    method,
    route: '/v3/enterprise/organizations/{org_id}/members/service-users/{service_user_id}',
  })),
  { method: 'POST', route: '/v3beta1/enterprise/service-users' },
  { method: 'POST', route: '/v3beta1/organizations/{org_id}/service-users' },
  { method: 'GET', route: '/v3/enterprise/audit-logs' },
];

export const NOT_IMPLEMENTED_DEFS: readonly RouteDef[] = NOT_IMPLEMENTED_ROUTES.map(({ method, route }) => ({
  method: method as HttpMethod,
  templates: [route],
  access: { kind: 'not-implemented' },
  effectful: false,
  handle: () => {
    throw new SimError(
      501,
      statusTitle(501),
      `${method} ${route} is part of the Devin API but outside the identity subset this simulator implements`,
    );
  },
}));
