// The public types of the Graph + login simulator, as written in the Entra contract
// (/work/entra-plan/CONTRACT.md). Fields marked "(addition)" are optional extras beyond the contract.

export interface SimUser {
  id: string; // GUID
  displayName: string;
  mail: string | null;
  userPrincipalName: string; // guests look like alice_gmail.com#EXT#@corp.onmicrosoft.com
  accountEnabled: boolean;
  [property: string]: unknown; // extra properties (department, jobTitle, …) selectable with $select
}

export interface SimGroup {
  id: string;
  displayName: string;
  /** User ids and group ids (nesting). */
  members: string[];
}

export type GraphPermission =
  | 'User.Read.All'
  | 'GroupMember.Read.All'
  | 'Group.Read.All'
  | 'Directory.Read.All';

export interface GraphSimulatorOptions {
  tenantId: string;
  clientId: string;
  /** The secret the login endpoint accepts. */
  clientSecret?: string;
  /** The app's registered certificate (public part): client assertions must be signed by its key. */
  certificatePem?: string;
  /** Application permissions granted (default all four). */
  permissions?: GraphPermission[];
  users?: SimUser[];
  groups?: SimGroup[];
  /** Added to every Graph request (default 0). */
  latencyMs?: number;
  /** Default 3599. */
  tokenLifetimeSeconds?: number;
  /** members@delta split across repeated group objects (default 20). */
  maxMembersPerDeltaGroupObject?: number;
  /** (addition) How long the subscription validation handshake may take (default 10000, as Graph). */
  validationTimeoutMs?: number;
  /** (addition) How long a notification POST may take before it counts as failed (default 10000). */
  notificationTimeoutMs?: number;
  /** (addition) Extra CA (PEM) trusted when the simulator POSTs to https notification URLs. */
  notificationCaPem?: string;
  /** (addition) Page size of users/delta and groups/delta when the first request has no $top (default 100). */
  deltaPageSize?: number;
}

export interface GraphRequestLogEntry {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  at: number;
  /** Lower-case names; the Authorization value is redacted. */
  headers: Record<string, string>;
}

export interface GraphFault {
  /** Default any. */
  method?: string;
  /** Matched against the URL path (e.g. /\/v1\.0\/users$/ or /\/oauth2\/v2\.0\/token$/). */
  path: RegExp;
  /** 429, 503, 504, 500, 403, … */
  status: number;
  /** Sets Retry-After. */
  retryAfterSeconds?: number;
  /** Let this many matching requests through first (default 0). */
  skip?: number;
  /** Then fail this many (default 1; Infinity allowed). */
  times?: number;
  /** Default a Graph error body { error: { code, message } } (an Entra error body on the token endpoint). */
  body?: unknown;
  /** (addition) Wait this long before answering with the fault. */
  delayMs?: number;
  /** (addition) Destroy the connection instead of answering (a network error for the client). */
  dropConnection?: boolean;
}

export interface SimSubscription {
  id: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  expirationDateTime: string;
  clientState?: string;
}

export interface SimDelivery {
  subscriptionId: string;
  url: string;
  status?: number;
  error?: string;
  kind: 'change' | 'lifecycle' | 'validation';
  /** (addition) The JSON body POSTed (change and lifecycle deliveries). */
  body?: unknown;
}

export type LifecycleEvent = 'reauthorizationRequired' | 'missed' | 'subscriptionRemoved';

export interface GraphSimulator {
  /** https://127.0.0.1:PORT; login and Graph share it: authorityHost === graphBaseUrl === url. */
  url: string;
  /** The CA that issued the server certificate (SAN IP:127.0.0.1, DNS:localhost). */
  caFile: string;
  caPem: string;
  /** An unrelated CA. */
  wrongCaFile: string;
  /** Every request, login included. */
  requests: GraphRequestLogEntry[];
  clearRequests(): void;
  tokensIssued(): number;
  fault(f: GraphFault): void;
  clearFaults(): void;
  // directory mutations: each records a delta change and sends change notifications to matching subscriptions
  addUser(u: SimUser): void;
  updateUser(id: string, patch: Partial<SimUser>): void;
  /** (addition) `{ hard: true }`: a permanent delete (delta reason 'deleted', then a 'deleted' notification). */
  deleteUser(id: string, opts?: { hard?: boolean }): void;
  addGroup(g: SimGroup): void;
  renameGroup(id: string, displayName: string): void;
  /** (addition) `{ hard: true }` as for deleteUser. */
  deleteGroup(id: string, opts?: { hard?: boolean }): void;
  addMember(groupId: string, memberId: string): void;
  removeMember(groupId: string, memberId: string): void;
  users(): SimUser[];
  groups(): SimGroup[];
  /** Every delta link issued so far answers 410 Gone from now on (a full resync is needed). */
  expireDeltaLinks(): void;
  subscriptions(): SimSubscription[];
  /** Drops a subscription as if it expired / was deleted (PATCH then answers 404). */
  dropSubscription(id: string): void;
  /** POSTs a lifecycle notification to the subscription's lifecycleNotificationUrl; resolves with the HTTP status. */
  sendLifecycle(id: string, event: LifecycleEvent): Promise<number>;
  /** Notification deliveries so far (url, status or error), for assertions. */
  deliveries(): SimDelivery[];
  /** Resolves when every notification POST started so far has settled. */
  settled(): Promise<void>;
  stop(): Promise<void>;
  /** (addition) Application permissions for tokens issued from now on (tokens carry their roles, as in Entra). */
  setPermissions(permissions: GraphPermission[]): void;
  /** (addition) Every access token issued so far answers 401 InvalidAuthenticationToken from now on. */
  revokeTokens(): void;
  /** (addition) The token endpoint URL (`${url}/${tenantId}/oauth2/v2.0/token`). */
  tokenEndpoint: string;
}
