// The adaptive request budget's brain: a pure rate controller over plain data, so the same rules
// run in one process (`idsync apply`) and on a state every replica shares through Redis
// (src/devin/sharedBudget.ts), and are tested with a fake clock. docs/rate-limits.md explains it.
//
// Devin publishes no rate limit, and its only signal is a 429. The controller starts as TCP does,
// with a slow start (the rate doubles every `doublingMs` of sending the budget holds back) that ends
// at the first 429. What a 429 does then is BBR's idea rather than a blind cut: the limit is
// estimated from the requests Devin actually admitted, counted by when they were sent, and the rate
// restarts just under that estimate. Between 429s a CUBIC curve (RFC 9438) centred on the estimate
// climbs back to it and then probes above it, slowly at first, to find out whether the limit rose;
// how long it stays before probing (K) depends on how well the estimate is known.
//
// The estimate, for a token bucket (the usual shape of a limit, and the simulator's):
//   - between two 429s it needs no assumption. At each 429 Devin's bucket held less than one token,
//     so what it admitted in between is what it refilled, give or take one:
//     A − 1 < limit × interval < A + 1. (The bound above fails if the bucket overflowed, full while
//     we sent less than it allowed; the one below never does.)
//   - at the first 429 there is no 429 before it: the bucket started full, with a burst nobody told
//     us. We assume it holds `burstPriorMs` of its rate (one second, the common bucket and the
//     simulator's); then a window that ends at the 429 shows A < limit × (burst + window) < A + 1.
//     Counts per `binMs` of send time let every window of the last bins × binMs be tried; the best
//     is where our rate was above the limit all along.
//   The estimate is the middle of that range, narrowed by the range of the 429 before when the two
//   agree (a count of a few requests is off by one, which is a lot at 2/s). If Devin's burst is
//   larger than assumed the first estimate is too high: the next 429 comes soon, and the interval
//   between the two corrects it. If it is smaller the estimate is too low, which costs throughput,
//   not 429s, until a probe finds more.
//
// What is taken from Devin, which documents none of it, is the safest reading. Retry-After means
// "not before": every caller waits it out, then one request goes and the rate resumes, with no
// burst of what Devin may have refilled meanwhile (it never said it would). It is not read as a
// hint of the rate: a whole-second value says little, and another server may send the time to the
// end of a quota window. The burst is assumed only where no 429 bounds it (the first one), and
// the budget's own bucket holds a fifth of a second, so that Devin sees the rate we chose.
//
// Growth is measured in time during which the budget was what held requests back ("limited"):
// a client that sends less than its budget allows learns nothing about the limit, so its rate must
// not climb (TCP's congestion-window validation, RFC 7661), or a later burst would meet Devin at a
// rate never tried.
//
// All times are epoch milliseconds of one clock (the shared budget uses Redis's).

export interface RateSettings {
  /** `maxRequestsPerSecond`: the rate never goes above it. Finite, ≥ 1. */
  ceiling: number;
  /** Where a fresh budget starts. */
  initial: number;
  /** The rate never goes below it, whatever the 429s. */
  floor: number;
  /** After a 429 the rate restarts at this share of the estimated limit (CUBIC's β). */
  beta: number;
  /**
   * A 429 with nothing to estimate from (the first requests refused, nothing known before): the
   * estimate is this share of the rate that met it, the blind cut of a slow start's overshoot.
   */
  slowStartBeta: number;
  /** Slow start: the rate doubles every this many milliseconds of limited sending. */
  doublingMs: number;
  /**
   * After a cut: limited milliseconds to climb back to a measured estimate (CUBIC's K). Probing
   * above it starts then.
   */
  recoveryMs: number;
  /**
   * …and at least the time these many requests take at the estimate. Each probe past the limit
   * costs about one 429, so at low rates the cycle is counted in requests, or the share of 429s
   * would grow as the limit falls (one per 6 s is 3 % at 5 requests/s).
   */
  recoveryRequests: number;
  /**
   * K for an estimate less well known (resting on the burst assumption, or wider than
   * `measuredSpread`): this share of the above, so that it is checked sooner. A guess (a blind
   * cut) gets this share of `recoveryMs` alone.
   */
  priorRecoveryShare: number;
  /** Past K the probe: estimate × (1 + probeGain × ((t − K) / K)³). */
  probeGain: number;
  /** The burst assumed for Devin's bucket, in ms of its rate, where no 429 bounds it (see above). */
  burstPriorMs: number;
  /** An estimate known to within this share of itself (the range's width) counts as measured. */
  measuredSpread: number;
  /** Admitted requests are counted per this many ms of send time… */
  binMs: number;
  /** …in this many bins: the windows the estimate can try end at the 429 and start within them. */
  bins: number;
  /** One report of limited sending advances the clock by at most this much. */
  maxStepMs: number;
  /**
   * 429s this soon after a cut belong to the same congestion event (they were in flight, or other
   * replicas' requests raced the cut) and only extend the pause.
   */
  quietMs: number;
  /** A Retry-After longer than this pauses for this long: one odd header must not stop a day. */
  maxPauseMs: number;
}

export interface RateState {
  /** Requests per second the budget grants now. */
  rate: number;
  /**
   * The estimated limit, requests/s, which the CUBIC curve is centred on (its W_max); null in the
   * slow start before any 429.
   */
  wmax: number | null;
  /** How far the estimate can be trusted, which sets how soon it is probed (`recoveryMs`). */
  confidence: Confidence;
  /** Slow start: the rate it started from. */
  base: number;
  /** Limited milliseconds since the last cut (or since the start). */
  clockMs: number;
  /** When limited sending was last reported: the next report advances the clock from here. */
  lastMs: number;
  /** No request is sent before this (a Retry-After). */
  pausedUntil: number;
  /** A 429 before this does not cut again. */
  quietUntil: number;
  /** Cuts so far, for metrics and tests. */
  cuts: number;
  /** Send time of the request whose 429 made the last cut (Devin's bucket was empty then); null: none. */
  markMs: number | null;
  /** Requests admitted (any answer but a 429) that were sent after `fromMs`. */
  delivered: number;
  /** Since when `delivered` counts: the last cut's mark, or when the budget started. */
  fromMs: number;
  /** Admitted requests by send time, `binMs` each, the newest bin ending at `binsEnd`. */
  bins: number[];
  binsEnd: number;
  /**
   * The window the estimate was counted over: from `estFromMs` to the mark, divided by `estMs`
   * (0: not counted). A request sent in it but answered after the 429 (one in flight, or another
   * replica's news that came later) still adds to it.
   */
  estFromMs: number;
  estMs: number;
  /** The range the limit is known to lie in (0, 0: none), whose middle is the estimate. */
  lo: number;
  hi: number;
}

export const DEFAULT_RATE_SETTINGS: Omit<RateSettings, 'ceiling'> = {
  // The old fixed default, which Devin has always accepted: a first run starts where idsync
  // always did, and only goes faster once it finds out it may.
  initial: 10,
  floor: 1,
  // The estimate counts what Devin admitted, so the rate may sit close to it; 5 % below leaves room
  // for the client's own small bursts and for an estimate a little high.
  beta: 0.95,
  slowStartBeta: 0.5,
  // A sync's first seconds are its slow start: at 500 ms a doubling, 10/s reaches 50/s in 1.2 s.
  doublingMs: 500,
  recoveryMs: 6000,
  recoveryRequests: 100,
  priorRecoveryShare: 0.5,
  // A gentle probe: each probe past the limit costs a 429 and a Retry-After pause, and the pause is
  // the bigger loss. Going above the estimate slowly keeps the cycle long (tried: 0.05 to 1 against
  // the model in test/support/budgetModel.ts; more gain, more 429s and no more throughput).
  probeGain: 0.05,
  burstPriorMs: 1000,
  measuredSpread: 0.2,
  binMs: 125,
  bins: 128,
  maxStepMs: 250,
  quietMs: 500,
  maxPauseMs: 15 * 60_000,
};

/** Settings for a ceiling (`maxRequestsPerSecond` > 0), with the defaults above. */
export function rateSettings(ceiling: number, overrides: Partial<RateSettings> = {}): RateSettings {
  if (!(Number.isFinite(ceiling) && ceiling >= 1)) {
    throw new RangeError(`the adaptive budget needs a ceiling ≥ 1 request/s, got ${ceiling}`);
  }
  const s: RateSettings = { ...DEFAULT_RATE_SETTINGS, ceiling, ...overrides };
  s.floor = Math.min(Math.max(s.floor, Number.MIN_VALUE), s.ceiling);
  s.initial = clamp(s.initial, s.floor, s.ceiling);
  for (const k of ['beta', 'slowStartBeta'] as const) {
    if (!(s[k] > 0 && s[k] < 1)) throw new RangeError(`${k} must be in (0, 1), got ${s[k]}`);
  }
  for (const k of [
    'doublingMs',
    'recoveryMs',
    'maxStepMs',
    'binMs',
    'priorRecoveryShare',
    'burstPriorMs',
  ] as const) {
    if (!(s[k] > 0)) throw new RangeError(`${k} must be > 0, got ${s[k]}`);
  }
  if (!(Number.isInteger(s.bins) && s.bins >= 1)) throw new RangeError(`bins must be a whole number ≥ 1`);
  return s;
}

export function initialState(s: RateSettings, now: number): RateState {
  return {
    rate: s.initial,
    wmax: null,
    confidence: 'guess',
    base: s.initial,
    clockMs: 0,
    lastMs: now,
    pausedUntil: 0,
    quietUntil: 0,
    cuts: 0,
    markMs: null,
    delivered: 0,
    fromMs: now,
    bins: [],
    binsEnd: 0,
    estFromMs: 0,
    estMs: 0,
    lo: 0,
    hi: 0,
  };
}

/**
 * Requests went through (any answer but a 429). Only `limited` ones, sent after waiting for the
 * budget, move the rate up; the clock advances by the time since the last such report, at most
 * `maxStepMs` (or two request intervals at a low rate), so sparse limited requests grow the rate
 * slowly. How many went through, and when they were sent, is `onDelivered`.
 */
export function onSuccess(state: RateState, s: RateSettings, now: number, limited: boolean): RateState {
  if (!limited) return state;
  // At a low rate limited requests come a second or so apart: up to two of their intervals count.
  const step = clamp(now - state.lastMs, 0, Math.max(s.maxStepMs, 2000 / state.rate));
  // A report from before the pause ended (another replica's, or one in flight) must not run the
  // clock through the pause.
  if (now < state.pausedUntil) return state;
  const clockMs = state.clockMs + step;
  return { ...state, clockMs, lastMs: now, rate: rateAt(state, s, clockMs) };
}

/**
 * Requests Devin admitted (any answer but a 429), by the times they were sent: what the next
 * 429's estimate counts. A request sent before the last cut's mark is not counted for the
 * interval after it (it belongs to the one before, whose estimate is made).
 */
export function onDelivered(state: RateState, s: RateSettings, sentAt: readonly number[]): RateState {
  if (sentAt.length === 0) return state;
  let delivered = state.delivered;
  let late = 0;
  const bins = state.bins.slice(-s.bins);
  let end = state.binsEnd;
  for (const t of sentAt) {
    if (!Number.isFinite(t)) continue;
    if (t >= state.fromMs) delivered++;
    else if (state.estMs > 0 && t >= state.estFromMs) late++;
    const binEnd = (Math.floor(t / s.binMs) + 1) * s.binMs;
    if (bins.length === 0 || binEnd > end) {
      // Newer than the newest bin: empty bins up to it (at most a ring's worth), then this one.
      const gap = bins.length === 0 ? 1 : Math.min(s.bins, Math.round((binEnd - end) / s.binMs));
      for (let i = 0; i < gap; i++) bins.push(0);
      end = binEnd;
      if (bins.length > s.bins) bins.splice(0, bins.length - s.bins);
    }
    const i = bins.length - 1 - Math.round((end - binEnd) / s.binMs);
    if (i >= 0) bins[i] = (bins[i] as number) + 1;
  }
  const next = { ...state, delivered, bins, binsEnd: end };
  if (late === 0 || next.wmax === null) return next;
  // Requests of the last estimate's window that were answered after its 429 (with a long latency
  // most of what is in flight was sent before the 429, whose answer comes at once): counted now.
  const more = (late * 1000) / next.estMs;
  next.wmax = Math.min(s.ceiling, next.wmax + more);
  if (next.hi > 0) {
    next.lo += more;
    next.hi += more;
  }
  next.rate = rateAt(next, s, next.clockMs);
  return next;
}

/** What a 429 shows about the limit (see the file's comment). */
export interface LimitSample {
  /** Requests/s, the middle of lo … hi; 0 when nothing was admitted to count. */
  rate: number;
  /** The limit lies in lo … hi if the counting window saw Devin's bucket as assumed. */
  lo: number;
  hi: number;
  /** From the interval between two 429s (no assumption about the burst). */
  measured: boolean;
  /** Admitted requests the estimate rests on. */
  count: number;
  /** The window they were counted over, from `fromMs` to the 429, and the divisor in ms. */
  fromMs: number;
  ms: number;
}

/** The estimate of the limit at a 429 of a request sent at `sentAt`. */
export function estimateLimit(state: RateState, s: RateSettings, sentAt: number): LimitSample {
  let best = { lo: 0, measured: false, count: 0, fromMs: sentAt, ms: 0 };
  let hi = 0;
  const offer = (lo: number, measured: boolean, count: number, fromMs: number, ms: number) => {
    if (lo > best.lo || best.ms === 0) best = { lo, measured, count, fromMs, ms };
  };
  // Between two 429s: Devin's bucket held less than a token at both, so what it admitted in between
  // is what it refilled, give or take one: A − 1 < limit × interval < A + 1 (more only if it
  // overflowed, full while we sent less than it allowed).
  if (state.markMs !== null && sentAt > state.markMs) {
    const ms = sentAt - state.markMs;
    const a = state.delivered;
    offer((Math.max(0, a - 1) * 1000) / ms, true, a, state.markMs, ms);
    hi = ((a + 1) * 1000) / ms;
  }
  // Windows that end at the 429 and start at a bin's edge, or where the count starts: their start
  // found the bucket at most full, with the assumed burst, so A < limit × (burst + window).
  const prior = (count: number, from: number) => {
    const ms = s.burstPriorMs + Math.max(0, sentAt - from);
    offer((count * 1000) / ms, false, count, from, ms);
  };
  prior(state.delivered, state.fromMs);
  // Only windows since the last cut: what came before it is the last estimate's business, and
  // counting it again would keep an old limit alive after Devin lowered it.
  let count = 0;
  for (let i = state.bins.length - 1; i >= 0; i--) {
    const from = state.binsEnd - (state.bins.length - i) * s.binMs;
    if (from < state.fromMs) break;
    count += state.bins[i] as number;
    if (from < sentAt) prior(count, from);
  }
  // Before any 429 (the slow start's end) the bucket was full at the start, with the assumed burst
  // if that is right: then the best window also bounds the limit from above, A + 1 > limit × ms.
  if (state.markMs === null && best.ms > 0) hi = ((best.count + 1) * 1000) / best.ms;
  const lo = best.lo;
  if (!(hi >= lo)) hi = lo;
  return { ...best, lo, hi, rate: (lo + hi) / 2 };
}

/**
 * A 429 for a request sent at `sentAt` (default: now): every caller waits `pauseMs` (Retry-After,
 * else the client's backoff), and unless this is the same congestion event as the last cut, the
 * limit is estimated again and the rate set under it.
 */
export function onThrottle(
  state: RateState,
  s: RateSettings,
  now: number,
  pauseMs: number,
  sentAt: number = now,
): RateState {
  const pause = clamp(Number.isFinite(pauseMs) ? pauseMs : s.maxPauseMs, 0, s.maxPauseMs);
  const pausedUntil = Math.max(state.pausedUntil, now + pause);
  if (now < state.quietUntil)
    return { ...state, pausedUntil, quietUntil: Math.max(state.quietUntil, pausedUntil) };
  const paused = {
    pausedUntil,
    quietUntil: Math.max(now + s.quietMs, pausedUntil),
    cuts: state.cuts + 1,
    clockMs: 0,
    lastMs: pausedUntil,
    markMs: sentAt,
    delivered: 0,
    fromMs: sentAt,
    estFromMs: 0,
    estMs: 0,
    lo: 0,
    hi: 0,
  };
  if (state.delivered < 2 && state.hi === 0) {
    // Nothing to count from and nothing known (the first requests refused: a bucket smaller than
    // our own first burst, or one someone else emptied): the blind cut of the rate that met it, or
    // of the last estimate if lower, and a short K, since it is a guess.
    const wmax = clamp(Math.min(state.wmax ?? state.rate, state.rate) * s.slowStartBeta, s.floor, s.ceiling);
    return { ...state, ...paused, wmax, confidence: 'guess', rate: clamp(wmax * s.beta, s.floor, s.ceiling) };
  }
  const sample = estimateLimit(state, s, sentAt);
  let wmax: number;
  let confidence: Confidence;
  let found: Pick<RateState, 'estFromMs' | 'estMs' | 'lo' | 'hi'>;
  if (
    state.wmax !== null &&
    state.clockMs > recoveryMs(state.wmax, state.confidence, s) &&
    state.wmax >= sample.rate
  ) {
    // Met while probing above the estimate: it held up to there. The interval's count includes the
    // time spent below it, so it may show less. The old estimate stands, and having held for a
    // whole K it is trusted more: the next probe waits longer.
    wmax = state.wmax;
    confidence = state.confidence === 'guess' ? 'prior' : 'measured';
    found = { estFromMs: 0, estMs: 0, lo: state.lo, hi: state.hi };
  } else {
    // The slow start's end, a probe that found more, or a 429 at or below the estimate: it was too
    // high (or Devin lowered its limit, or someone else takes a share). What was admitted since the
    // last 429 says what it is now; where that agrees with the range known before, the two narrow
    // each other down (a count of a few requests is off by one, a lot at 2/s).
    let { lo, hi } = sample;
    const narrowed = state.hi > 0 && lo < state.hi && hi > state.lo;
    if (narrowed) {
      lo = Math.max(lo, state.lo);
      hi = Math.min(hi, state.hi);
    }
    wmax = (lo + hi) / 2;
    // Measured: known closely, and not on the burst assumption alone.
    confidence = (sample.measured || narrowed) && hi - lo <= s.measuredSpread * wmax ? 'measured' : 'prior';
    found = { estFromMs: sample.fromMs, estMs: sample.ms, lo, hi };
  }
  wmax = clamp(wmax, s.floor, s.ceiling);
  return { ...state, ...paused, ...found, wmax, confidence, rate: clamp(wmax * s.beta, s.floor, s.ceiling) };
}

/** The rate after `clockMs` limited milliseconds since the last cut (or the start). */
function rateAt(state: RateState, s: RateSettings, clockMs: number): number {
  let rate: number;
  if (state.wmax === null) {
    rate = state.base * 2 ** (clockMs / s.doublingMs);
  } else {
    const x = clockMs / recoveryMs(state.wmax, state.confidence, s) - 1;
    // W(t) = W_max · (1 + (1 − β)·(t/K − 1)³) up to K: β·W_max right after the cut, W_max at t = K,
    // flat near it. Past K the probe: W_max · (1 + probeGain·((t − K)/K)³).
    const gain = x < 0 ? 1 - s.beta : s.probeGain;
    rate = state.wmax * (1 + gain * x * x * x);
  }
  return clamp(rate, s.floor, s.ceiling);
}

/**
 * How far an estimate may be trusted: `measured` (between two 429s, or two estimates that agree, to
 * within `measuredSpread`), a `prior` (on the burst assumption, or on a few requests), a `guess`
 * (a blind cut).
 */
export type Confidence = 'measured' | 'prior' | 'guess';

/**
 * CUBIC's K for an estimate: how long the rate stays near it before probing above. The less the
 * estimate can be trusted, the sooner it is checked.
 */
export function recoveryMs(wmax: number, confidence: Confidence, s: RateSettings): number {
  const k = Math.max(s.recoveryMs, (s.recoveryRequests / wmax) * 1000);
  if (confidence === 'measured') return k;
  if (confidence === 'prior') return k * s.priorRecoveryShare;
  return s.recoveryMs * s.priorRecoveryShare;
}

/** Milliseconds until callers may send again (0: not paused). */
export function pauseLeft(state: RateState, now: number): number {
  return Math.max(0, state.pausedUntil - now);
}

// ---- the token bucket the rate feeds --------------------------------------------------------------

export interface Bucket {
  tokens: number;
  refilledAt: number;
}

export interface Take {
  bucket: Bucket;
  /** Tokens handed out, 0 … wanted. */
  granted: number;
  /** When fewer than wanted: milliseconds until the next token (or the pause's end). */
  waitMs: number;
}

/**
 * Takes up to `wanted` whole tokens from a bucket that refills at `rate` and holds `burst`.
 * The Lua script of the shared budget does exactly this (src/devin/sharedBudget.ts); keep them alike.
 */
export function takeTokens(
  bucket: Bucket,
  rate: number,
  burst: number,
  now: number,
  wanted: number,
  pausedUntil = 0,
): Take {
  const elapsed = Math.max(0, now - bucket.refilledAt);
  let tokens = Math.min(burst, bucket.tokens + (elapsed / 1000) * rate);
  if (now < pausedUntil) {
    // Nothing accrues while Devin asked everyone to wait: as the pause ends one request may go
    // (what Retry-After asks for), then the rate; no burst from what Devin refilled meanwhile.
    return { bucket: { tokens: 1, refilledAt: pausedUntil }, granted: 0, waitMs: pausedUntil - now };
  }
  const granted = Math.max(0, Math.min(wanted, Math.floor(tokens)));
  tokens -= granted;
  const waitMs = granted < wanted ? Math.ceil(((1 - tokens) / rate) * 1000) : 0;
  return { bucket: { tokens, refilledAt: Math.max(now, bucket.refilledAt) }, granted, waitMs };
}

/** The bucket's size for a rate: `burstMs` worth of requests, at least one. */
export function burstFor(rate: number, burstMs: number): number {
  return Math.max(1, (rate * burstMs) / 1000);
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
