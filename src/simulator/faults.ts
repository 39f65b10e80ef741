import { z } from 'zod';
import { mulberry32 } from './prng.js';

export interface FaultRule {
  match?: {
    method?: string;
    /**
     * Route template as logged, e.g. '/v3/enterprise/members/users/{user_id}'; without the version
     * prefix ('/enterprise/members/users') it matches both /v3 and /v3beta1; a trailing '*' is a prefix
     * match; '*' or absent matches every route.
     */
    route?: string;
  };
  latencyMs?: number;
  jitterMs?: number;
  rateLimit?: { capacity: number; refillPerSecond: number; retryAfter?: 'seconds' | 'http-date' };
  errorRate?: number;
  /** default 503 */
  errorStatus?: number;
  dropRate?: number;
  dropAfterApplyRate?: number;
  /** The rule applies to the next N matching requests only, then expires. */
  times?: number;
}

export interface FaultConfig {
  seed?: number;
  rules: FaultRule[];
}

const rate = z.number().min(0).max(1);

export const FaultRuleSchema = z.strictObject({
  match: z
    .strictObject({
      method: z.string().min(1).optional(),
      route: z.string().min(1).optional(),
    })
    .optional(),
  latencyMs: z.number().min(0).optional(),
  jitterMs: z.number().min(0).optional(),
  rateLimit: z
    .strictObject({
      // 0 = a bucket that never holds a token: every matching request is refused.
      capacity: z.number().min(0),
      refillPerSecond: z.number().min(0),
      retryAfter: z.enum(['seconds', 'http-date']).optional(),
    })
    .optional(),
  errorRate: rate.optional(),
  errorStatus: z.number().int().min(400).max(599).optional(),
  dropRate: rate.optional(),
  dropAfterApplyRate: rate.optional(),
  times: z.number().int().min(0).optional(),
});

export const FaultConfigSchema = z.strictObject({
  seed: z.number().int().optional(),
  rules: z.array(FaultRuleSchema),
});

/** What the fault layer decided for one request; the server acts on it in this order. */
export interface FaultDecision {
  latencyMs: number;
  /** Set when a token bucket was empty: the Retry-After header value. */
  rateLimited: string | null;
  /** Set when an error is injected: the status to answer with. */
  errorStatus: number | null;
  dropBeforeApply: boolean;
  dropAfterApply: boolean;
}

interface RuleState {
  rule: FaultRule;
  remaining: number;
  tokens: number;
  refilledAt: number;
}

const VERSION_PREFIX = /^\/v3(beta1)?(?=\/)/;

export function routeMatches(pattern: string | undefined, route: string): boolean {
  if (pattern === undefined || pattern === '*') return true;
  const bare = route.replace(VERSION_PREFIX, '');
  if (pattern.endsWith('*')) {
    const p = pattern.slice(0, -1);
    return route.startsWith(p) || bare.startsWith(p);
  }
  return pattern === route || pattern === bare;
}

/** Applies FaultConfig rules. Every random draw comes from one mulberry32 stream seeded by config.seed. */
export class FaultEngine {
  private config: FaultConfig = { rules: [] };
  private rules: RuleState[] = [];
  private rand: () => number = mulberry32(0);
  private readonly clock: () => number;

  constructor(config?: FaultConfig, clock: () => number = Date.now) {
    this.clock = clock;
    if (config) this.set(config);
  }

  /** Replaces the rules and restarts buckets, `times` counters and the random stream. */
  set(config: FaultConfig): void {
    const parsed = FaultConfigSchema.parse(config) as FaultConfig;
    this.config = parsed;
    const now = this.clock();
    this.rules = parsed.rules.map((rule) => ({
      rule,
      remaining: rule.times ?? Number.POSITIVE_INFINITY,
      tokens: rule.rateLimit?.capacity ?? 0,
      refilledAt: now,
    }));
    this.rand = mulberry32(parsed.seed ?? 1);
  }

  get(): FaultConfig {
    return structuredClone(this.config);
  }

  decide(method: string, route: string): FaultDecision | null {
    if (this.rules.length === 0) return null;
    const matched: RuleState[] = [];
    for (const s of this.rules) {
      const m = s.rule.match;
      if (m?.method !== undefined && m.method.toUpperCase() !== method.toUpperCase()) continue;
      if (!routeMatches(m?.route, route)) continue;
      if (s.remaining <= 0) continue;
      s.remaining--;
      matched.push(s);
    }
    if (matched.length === 0) return null;
    const d: FaultDecision = {
      latencyMs: 0,
      rateLimited: null,
      errorStatus: null,
      dropBeforeApply: false,
      dropAfterApply: false,
    };
    for (const { rule } of matched) {
      d.latencyMs += rule.latencyMs ?? 0;
      if (rule.jitterMs) d.latencyMs += this.rand() * rule.jitterMs;
    }
    const now = this.clock();
    for (const s of matched) {
      const rl = s.rule.rateLimit;
      if (!rl) continue;
      s.tokens = Math.min(rl.capacity, s.tokens + ((now - s.refilledAt) / 1000) * rl.refillPerSecond);
      s.refilledAt = now;
      if (s.tokens >= 1) {
        s.tokens -= 1;
        continue;
      }
      const wait = rl.refillPerSecond > 0 ? Math.ceil((1 - s.tokens) / rl.refillPerSecond) : 3600;
      const seconds = Math.max(1, wait);
      d.rateLimited =
        rl.retryAfter === 'http-date'
          ? // HTTP dates have whole seconds: round up so the date is never earlier than the wait.
            new Date(Math.ceil((now + seconds * 1000) / 1000) * 1000).toUTCString()
          : String(seconds);
      return d;
    }
    for (const { rule } of matched) {
      if (rule.errorRate && this.rand() < rule.errorRate) {
        d.errorStatus = rule.errorStatus ?? 503;
        return d;
      }
    }
    for (const { rule } of matched) {
      if (rule.dropRate && this.rand() < rule.dropRate) {
        d.dropBeforeApply = true;
        return d;
      }
    }
    for (const { rule } of matched) {
      if (rule.dropAfterApplyRate && this.rand() < rule.dropAfterApplyRate) {
        d.dropAfterApply = true;
        break;
      }
    }
    return d;
  }
}
