// Wire schemas of the Devin v3 identity API (spec/devin-v3-identity.openapi.yaml).
// Every response the client receives is parsed with these. Objects are loose on purpose: the API
// may add fields at any time and that must not break a sync, but a required field that is missing
// or of the wrong type is a contract break we want to hear about loudly.
import { z } from 'zod';

const nullableString = z.string().nullable();

export const RoleType = z.enum(['enterprise', 'org']);
export type RoleType = z.infer<typeof RoleType>;

export const Role = z.looseObject({
  role_id: z.string(),
  role_name: z.string(),
  role_type: RoleType,
  // RoleDetailResponse (newest tf-spec) adds the role's permissions; no documented path returns it,
  // so it is optional, and absent means "unknown", never "none".
  permissions: z.array(z.string()).optional(),
});
export type Role = z.infer<typeof Role>;

export const RoleAssignment = z.looseObject({
  role: Role,
  // null (or absent) = enterprise-level assignment; set = assignment in that organization.
  org_id: nullableString.optional(),
});
export type RoleAssignment = z.infer<typeof RoleAssignment>;

export const IdpRoleAssignment = z.looseObject({
  role: Role,
  idp_group_name: z.string(),
  org_id: nullableString.optional(),
});
export type IdpRoleAssignment = z.infer<typeof IdpRoleAssignment>;

export const User = z.looseObject({
  user_id: z.string(),
  email: nullableString,
  name: nullableString,
  role_assignments: z.array(RoleAssignment),
});
export type User = z.infer<typeof User>;

export const EnterpriseUser = User.extend({
  enterprise_joined_at: z.number().int().nullable().optional(),
});
export type EnterpriseUser = z.infer<typeof EnterpriseUser>;

export const UserWithIdpRoles = EnterpriseUser.extend({
  idp_role_assignments: z.array(IdpRoleAssignment).optional(),
});
export type UserWithIdpRoles = z.infer<typeof UserWithIdpRoles>;

export const IdpGroupUser = z.looseObject({
  user_id: z.string(),
  email: nullableString,
  name: nullableString,
  idp_role_assignments: z.array(IdpRoleAssignment),
});
export type IdpGroupUser = z.infer<typeof IdpGroupUser>;

export const IdpGroupResponse = z.looseObject({ idp_group_name: z.string() });
export type IdpGroupResponse = z.infer<typeof IdpGroupResponse>;

export const IdpGroup = z.looseObject({
  idp_group_name: z.string(),
  role_assignments: z.array(RoleAssignment),
});
export type IdpGroup = z.infer<typeof IdpGroup>;

export const Organization = z.looseObject({
  org_id: z.string(),
  name: z.string(),
  created_at: z.number().int(),
  updated_at: z.number().int(),
  max_session_acu_limit: z.number().int().nullable(),
  max_cycle_acu_limit: z.number().int().nullable(),
});
export type Organization = z.infer<typeof Organization>;

export const ServiceUserSelf = z.looseObject({
  principal_type: z.literal('service_user'),
  service_user_id: z.string(),
  service_user_name: z.string(),
  org_id: nullableString.optional(),
});
export const PatUserSelf = z.looseObject({
  principal_type: z.literal('pat_user').optional(),
  user_id: z.string(),
  user_name: z.string(),
  api_key_id: z.string(),
  api_key_name: z.string(),
  org_id: nullableString.optional(),
});
// GET /v3beta1/enterprise/self: the older shape, without principal_type.
export const ServiceUserSelfV3beta1 = z.looseObject({
  service_user_id: z.string(),
  service_user_name: z.string(),
  org_id: nullableString,
});
export const Self = z.union([ServiceUserSelf, PatUserSelf, ServiceUserSelfV3beta1]);
export type Self = z.infer<typeof Self>;

export const ProblemDetail = z.looseObject({
  type: z.string().optional(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().nullable().optional(),
  instance: z.string().nullable().optional(),
  errors: z.array(z.record(z.string(), z.unknown())).nullable().optional(),
});
export type ProblemDetail = z.infer<typeof ProblemDetail>;

/** The legacy FastAPI error body: `{"detail": "..."}` or `{"detail": [{loc, msg, type}]}`. */
export const LegacyErrorBody = z.looseObject({
  detail: z.union([
    z.string(),
    z.array(z.looseObject({ loc: z.array(z.union([z.string(), z.number()])).optional(), msg: z.string() })),
  ]),
});
export type LegacyErrorBody = z.infer<typeof LegacyErrorBody>;

export function paginated<T extends z.ZodType>(item: T) {
  return z.looseObject({
    items: z.array(item),
    end_cursor: z.string().nullable().optional(),
    has_next_page: z.boolean().optional().default(false),
    total: z.number().int().nullable().optional(),
  });
}
export interface Page<T> {
  items: T[];
  end_cursor?: string | null | undefined;
  has_next_page: boolean;
  total?: number | null | undefined;
}

// Request bodies (validated by the simulator, built by the client).
export const UserBulkCreateRequest = z.object({
  emails: z.array(z.string()).max(100),
  enterprise_role_id: z.string(),
});
export type UserBulkCreateRequest = z.infer<typeof UserBulkCreateRequest>;

export const RoleIdRequest = z.object({ role_id: z.string() });
export type RoleIdRequest = z.infer<typeof RoleIdRequest>;

export const IdpGroupsBulkCreateRequest = z.object({
  idp_group_names: z.array(z.string()).min(1).max(100),
});
export type IdpGroupsBulkCreateRequest = z.infer<typeof IdpGroupsBulkCreateRequest>;

/** Documented maxima of the bulk endpoints. */
export const MAX_INVITE_EMAILS = 100;
export const MAX_REGISTER_GROUPS = 100;
/** `first` is 1–200 on every identity list endpoint. */
export const MAX_PAGE_SIZE = 200;
