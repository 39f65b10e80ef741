// Route templates of the identity endpoints the client calls, relative to the API prefix
// (`/v3` or `/v3beta1`). Templates, not concrete paths, go into logs, errors and metrics.

export const ROUTES = {
  organizations: '/enterprise/organizations',
  organization: '/enterprise/organizations/{org_id}',
  roles: '/enterprise/roles',
  users: '/enterprise/members/users',
  user: '/enterprise/members/users/{user_id}',
  idpUsers: '/enterprise/members/idp-users',
  orgUsers: '/enterprise/organizations/{org_id}/members/users',
  orgUser: '/enterprise/organizations/{org_id}/members/users/{user_id}',
  orgIdpUsers: '/enterprise/organizations/{org_id}/members/idp-users',
  idpGroups: '/enterprise/idp-groups',
  idpGroup: '/enterprise/idp-groups/{idp_group_name}',
  enterpriseGroupRoles: '/enterprise/members/idp-groups',
  enterpriseGroupRole: '/enterprise/members/idp-groups/{idp_group_name}',
  orgGroupRoles: '/enterprise/organizations/{org_id}/members/idp-groups',
  orgGroupRole: '/enterprise/organizations/{org_id}/members/idp-groups/{idp_group_name}',
} as const;

export type RouteTemplate = (typeof ROUTES)[keyof typeof ROUTES];

/** `/v3/self`; the older prefix only documents `/v3beta1/enterprise/self`. */
export function selfRoute(prefix: string): string {
  return prefix === '/v3beta1' ? '/enterprise/self' : '/self';
}

/** Fills `{name}` placeholders with URL-encoded values (IdP group names are free strings). */
export function fillRoute(template: string, params: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined || value === '')
      throw new TypeError(`missing path parameter ${key} for ${template}`);
    return encodeURIComponent(value);
  });
}
