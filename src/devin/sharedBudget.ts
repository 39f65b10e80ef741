// The request budget in Redis, shared by every replica (and by both clients of one): one hash holds
// the rate controller's state and the token bucket its rate refills. A replica leases tokens in
// small batches (src/devin/limiter.ts), and each lease carries that replica's news (limited
// sending, 429s) as a new controller state, stored only if nobody changed the state since the
// replica last saw it. So the controller's rules stay in TypeScript (src/devin/adaptiveRate.ts),
// the combined rate of all replicas is the bucket's, and a 429 seen by one replica pauses and
// slows the others at their next lease, a tenth of a second or so later.
//
// Times inside are Redis's clock (TIME), not the replicas': their clocks may disagree.
import type { Redis } from 'ioredis';
import type { RateState } from './adaptiveRate.js';
import type { BudgetExchange, BudgetReply, BudgetStore } from './budget.js';

/**
 * KEYS[1] the budget hash. ARGV: wanted tokens; the version an update was computed from (-1: no
 * update); the update's state JSON, its rate and its pausedUntil; the bucket's burst in ms of the
 * rate; the key's TTL in ms. Returns { granted, waitMs, now, version, stateJson|false, stored }.
 * The bucket's arithmetic is takeTokens in adaptiveRate.ts; keep the two alike.
 */
const EXCHANGE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'v', 'state', 'rate', 'paused', 'tokens', 'at')
local v = tonumber(h[1]) or 0
local state = h[2]
local rate = tonumber(h[3])
local paused = tonumber(h[4]) or 0
local want = tonumber(ARGV[1])
local stored = 0
if tonumber(ARGV[2]) == v then
  v = v + 1
  state = ARGV[3]
  rate = tonumber(ARGV[4])
  paused = tonumber(ARGV[5])
  stored = 1
end
if rate == nil or rate <= 0 then
  return {0, 0, now, v, false, stored}
end
local burst = math.max(1, rate * tonumber(ARGV[6]) / 1000)
local tokens = tonumber(h[5])
local at = tonumber(h[6])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
at = math.max(at, now)
local granted = 0
local wait = 0
if now < paused then
  tokens = 1
  at = paused
  wait = paused - now
else
  granted = math.max(0, math.min(want, math.floor(tokens)))
  tokens = tokens - granted
  if granted < want then wait = math.ceil((1 - tokens) * 1000 / rate) end
end
redis.call('HSET', KEYS[1], 'v', v, 'state', state, 'rate', rate, 'paused', paused,
  'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {granted, wait, now, v, state, stored}
`;

/** Unused for this long, the budget is forgotten: the next run starts from the initial rate. */
const DEFAULT_TTL_MS = 24 * 3600_000;

export function sharedBudgetKey(prefix: string): string {
  return `${prefix}:devin-budget`;
}

type ExchangeCommand = (key: string, ...args: string[]) => Promise<unknown>;

export class RedisBudgetStore implements BudgetStore {
  readonly shared = true;
  private readonly key: string;
  private readonly command: ExchangeCommand;

  /** `redis` is the daemon's connection; the key is `${prefix}:devin-budget`. */
  constructor(
    redis: Redis,
    prefix: string,
    private readonly ttlMs = DEFAULT_TTL_MS,
  ) {
    this.key = sharedBudgetKey(prefix);
    // defineCommand is idempotent per connection; clients of one process share the script.
    redis.defineCommand('idsyncDevinBudget', { numberOfKeys: 1, lua: EXCHANGE });
    const bound = redis as unknown as { idsyncDevinBudget: ExchangeCommand };
    this.command = bound.idsyncDevinBudget.bind(redis);
  }

  async exchange(x: BudgetExchange): Promise<BudgetReply> {
    const u = x.update;
    const raw = await this.command(
      this.key,
      String(Math.max(0, Math.floor(x.want))),
      String(u ? u.version : -1),
      u ? JSON.stringify(u.state) : '',
      u ? String(u.state.rate) : '0',
      u ? String(u.state.pausedUntil) : '0',
      String(x.burstMs),
      String(this.ttlMs),
    );
    return parseReply(raw);
  }
}

function parseReply(raw: unknown): BudgetReply {
  if (!Array.isArray(raw) || raw.length !== 6)
    throw new SharedBudgetError('unexpected reply from the budget script');
  const [granted, waitMs, now, version, stateJson, stored] = raw as unknown[];
  let state: RateState | null = null;
  if (typeof stateJson === 'string' && stateJson !== '') {
    try {
      state = parseState(JSON.parse(stateJson));
    } catch {
      state = null;
    }
    // Unreadable (written by another version of idsync?): treated as none; the next update,
    // computed from version `version`, replaces it.
  }
  return {
    granted: Number(granted),
    waitMs: Number(waitMs),
    now: Number(now),
    version: Number(version),
    state,
    stored: Number(stored) === 1,
  };
}

const NUMBER_FIELDS = ['rate', 'base', 'clockMs', 'lastMs', 'pausedUntil', 'quietUntil', 'cuts'] as const;

/**
 * A stored state, checked field by field: Redis is shared, and a bad value must not become a rate.
 * The fields of the delivered-rate estimate may be missing (a state an older idsync wrote during a
 * rolling upgrade): they start empty, which only means the next 429's estimate counts from now.
 */
function parseState(v: unknown): RateState | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  for (const k of NUMBER_FIELDS) if (!finite(o[k])) return null;
  if (!(typeof o.wmax === 'number' || o.wmax === null)) return null;
  if (!((o.rate as number) > 0)) return null;
  const lastMs = o.lastMs as number;
  const bins = Array.isArray(o.bins) && o.bins.every((b) => finite(b) && b >= 0) ? (o.bins as number[]) : [];
  return {
    rate: o.rate as number,
    wmax: o.wmax as number | null,
    confidence: o.confidence === 'measured' || o.confidence === 'guess' ? o.confidence : 'prior',
    base: o.base as number,
    clockMs: o.clockMs as number,
    lastMs,
    pausedUntil: o.pausedUntil as number,
    quietUntil: o.quietUntil as number,
    cuts: o.cuts as number,
    markMs: finite(o.markMs) ? o.markMs : null,
    delivered: finite(o.delivered) && o.delivered >= 0 ? o.delivered : 0,
    fromMs: finite(o.fromMs) ? o.fromMs : lastMs,
    bins: finite(o.binsEnd) ? bins : [],
    binsEnd: finite(o.binsEnd) ? o.binsEnd : 0,
    estFromMs: finite(o.estFromMs) ? o.estFromMs : 0,
    estMs: finite(o.estMs) && o.estMs >= 0 ? o.estMs : 0,
    lo: finite(o.lo) && finite(o.hi) && o.lo >= 0 && o.hi >= o.lo ? o.lo : 0,
    hi: finite(o.lo) && finite(o.hi) && o.lo >= 0 && o.hi >= o.lo ? o.hi : 0,
  };
}

function finite(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

export class SharedBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SharedBudgetError';
  }
}
