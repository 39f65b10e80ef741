// Starts the Devin API simulator in-process on 127.0.0.1 (a free port) for tests, plus a tiny
// fetch wrapper. Real HTTP, no mocks.
import { fileURLToPath } from 'node:url';
import {
  type FaultConfig,
  type HiddenRateLimit,
  loadSeedFile,
  type RunningSimulator,
  type Semantics,
  type SimulatorSeed,
  type SimulatorSeedInput,
  startSimulator,
} from '../../src/simulator/index.js';

export const DEMO_SEED_PATH = fileURLToPath(new URL('../../config/simulator-seed.json', import.meta.url));
export const DEMO_TOKEN = 'cog_demo_idsync_token';

export function loadDemoSeed(): Promise<SimulatorSeed> {
  return loadSeedFile(DEMO_SEED_PATH);
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface Api {
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  get<T = unknown>(path: string): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  patch<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  del<T = unknown>(path: string): Promise<ApiResponse<T>>;
}

/** JSON over fetch with `Authorization: Bearer <token>` (no header when token is null). */
export function api(baseUrl: string, token: string | null = DEMO_TOKEN): Api {
  const request = async <T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return {
    request,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
    patch: (path, body) => request('PATCH', path, body),
    del: (path) => request('DELETE', path),
  };
}

export interface TestSimulator extends RunningSimulator {
  /** A client for this simulator (default: the demo token). */
  api(token?: string | null): Api;
}

export async function startTestSimulator(
  o: {
    seed?: SimulatorSeedInput;
    admin?: boolean;
    faults?: FaultConfig;
    semantics?: Semantics;
    rateLimit?: HiddenRateLimit;
  } = {},
): Promise<TestSimulator> {
  const sim = await startSimulator({
    seed: o.seed ?? (await loadDemoSeed()),
    ...(o.admin !== undefined ? { admin: o.admin } : {}),
    ...(o.semantics !== undefined ? { semantics: o.semantics } : {}),
    ...(o.faults ? { faults: o.faults } : {}),
    ...(o.rateLimit ? { rateLimit: o.rateLimit } : {}),
  });
  return Object.assign(sim, { api: (token: string | null = DEMO_TOKEN) => api(sim.url, token) });
}

/** Walks a list endpoint to the end, returning every item and the number of requests it took. */
export async function walk<T>(
  client: Api,
  path: string,
  first?: number,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const q = new URLSearchParams();
    if (first !== undefined) q.set('first', String(first));
    if (after !== null) q.set('after', after);
    const sep = path.includes('?') ? '&' : '?';
    const qs = q.toString();
    const res: ApiResponse<Page<T>> = await client.get<Page<T>>(qs ? `${path}${sep}${qs}` : path);
    if (res.status !== 200) throw new Error(`GET ${path} -> ${res.status} ${JSON.stringify(res.body)}`);
    pages++;
    items.push(...res.body.items);
    if (!res.body.has_next_page) {
      if (res.body.end_cursor !== null) throw new Error('end_cursor must be null on the last page');
      return { items, pages };
    }
    after = res.body.end_cursor;
  }
}

export interface Page<T> {
  items: T[];
  end_cursor: string | null;
  has_next_page: boolean;
  total: number | null;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string | null;
  instance: string | null;
  errors?: Array<{ loc: Array<string | number>; msg: string; type: string }>;
}

export interface RoleOut {
  role_id: string;
  role_name: string;
  role_type: 'enterprise' | 'org';
}
export interface AssignmentOut {
  role: RoleOut;
  org_id: string | null;
}
export interface IdpAssignmentOut extends AssignmentOut {
  idp_group_name: string;
}
export interface UserOut {
  user_id: string;
  email: string | null;
  name: string | null;
  role_assignments: AssignmentOut[];
  idp_role_assignments?: IdpAssignmentOut[];
  enterprise_joined_at?: number | null;
}
export interface IdpUserOut {
  user_id: string;
  email: string | null;
  name: string | null;
  idp_role_assignments: IdpAssignmentOut[];
}
export interface IdpGroupOut {
  idp_group_name: string;
  role_assignments: AssignmentOut[];
}
