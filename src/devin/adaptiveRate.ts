// The adaptive request budget's brain: a pure rate controller over plain data, so the same rules
// run in one process (`idsync apply`) and on a state every replica shares through Redis
// (src/devin/sharedBudget.ts), and are tested with a fake clock.
//
// Devin publishes no rate limit; the only signal is a 429. The controller does what TCP does with
// loss: a slow start (the rate doubles every `doublingMs` of sending the budget holds back), then on
// a 429 a multiplicative cut to `beta` of the rate and a CUBIC recovery (RFC 9438): back to the rate
// that saw the 429 in `recoveryMs` along a concave curve, flat near that rate, then a convex probe
// above it. CUBIC rather than Reno's straight line because Reno's sawtooth averages 75 % of the
// limit; CUBIC spends most of its time just under the rate that last drew a 429.
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
  /** After a 429 the rate is cut to this share of the rate that drew it. */
  beta: number;
  /** The cut of the first 429, which ends the slow start (which overshoots: it doubles). */
  slowStartBeta: number;
  /** Slow start: the rate doubles every this many milliseconds of limited sending. */
  doublingMs: number;
  /** After a cut: limited milliseconds to climb back to the rate that drew the 429 (CUBIC's K). */
  recoveryMs: number;
  /**
   * …and at least the time these many requests take at that rate. Each climb past the limit costs
   * about one 429, so at low rates the cycle is counted in requests, or the share of 429s would
   * grow as the limit falls (one per 6 s is 3 % at 5 requests/s).
   */
  recoveryRequests: number;
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
  /** The rate that drew the last 429 (CUBIC's W_max), or null in the slow start before any. */
  wmax: number | null;
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
}

export const DEFAULT_RATE_SETTINGS: Omit<RateSettings, 'ceiling'> = {
  // The old fixed default, which Devin has always accepted: a first run starts where idsync
  // always did, and only goes faster once it finds out it may.
  initial: 10,
  floor: 1,
  // Shallower than CUBIC's 0.7: the Retry-After pause that comes with a 429 has already taken
  // the excess away, and a deeper cut leaves Devin's bucket full and unused after the pause.
  beta: 0.8,
  slowStartBeta: 0.5,
  // A sync's first seconds are its slow start: at 500 ms a doubling, 10/s reaches 50/s in 1.2 s.
  doublingMs: 500,
  recoveryMs: 6000,
  recoveryRequests: 100,
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
  if (!(s.beta > 0 && s.beta < 1)) throw new RangeError(`beta must be in (0, 1), got ${s.beta}`);
  for (const k of ['doublingMs', 'recoveryMs', 'maxStepMs'] as const) {
    if (!(s[k] > 0)) throw new RangeError(`${k} must be > 0, got ${s[k]}`);
  }
  return s;
}

export function initialState(s: RateSettings, now: number): RateState {
  return {
    rate: s.initial,
    wmax: null,
    base: s.initial,
    clockMs: 0,
    lastMs: now,
    pausedUntil: 0,
    quietUntil: 0,
    cuts: 0,
  };
}

/**
 * Requests went through (any answer but a 429). Only `limited` ones, sent after waiting for the
 * budget, move the rate up; the clock advances by the time since the last such report, at most
 * `maxStepMs`, so sparse limited requests grow the rate slowly.
 */
export function onSuccess(state: RateState, s: RateSettings, now: number, limited: boolean): RateState {
  if (!limited) return state;
  const step = clamp(now - state.lastMs, 0, s.maxStepMs);
  // A report from before the pause ended (another replica's, or one in flight) must not run the
  // clock through the pause.
  if (now < state.pausedUntil) return state;
  const clockMs = state.clockMs + step;
  return { ...state, clockMs, lastMs: now, rate: rateAt(state, s, clockMs) };
}

/**
 * A 429: every caller waits `pauseMs` (Retry-After, else the client's backoff), and unless this is
 * the same congestion event as the last cut, the rate is cut to `beta` of what it was.
 */
export function onThrottle(state: RateState, s: RateSettings, now: number, pauseMs: number): RateState {
  const pause = clamp(Number.isFinite(pauseMs) ? pauseMs : s.maxPauseMs, 0, s.maxPauseMs);
  const pausedUntil = Math.max(state.pausedUntil, now + pause);
  if (now < state.quietUntil)
    return { ...state, pausedUntil, quietUntil: Math.max(state.quietUntil, pausedUntil) };
  // The slow start's first 429 strikes well past the limit (the rate doubles while Devin's own
  // burst hides the excess), so its estimate of the limit is the rate cut by slowStartBeta.
  // A 429 below the last W_max means that estimate was too high (the slow start's, or Devin
  // lowered its limit, or another client took a share): CUBIC's fast convergence aims lower, at
  // beta of the rate that met it. CUBIC's own (1 + beta) / 2 is meant for sharing a path fairly;
  // against one hidden limit it took a 429 per step to come down from a slow start's overshoot.
  const wmax =
    state.wmax === null
      ? state.rate * s.slowStartBeta
      : state.rate < state.wmax
        ? state.rate * s.beta
        : state.rate;
  return {
    ...state,
    wmax,
    rate: Math.max(s.floor, Math.min(s.ceiling, wmax * s.beta)),
    clockMs: 0,
    lastMs: pausedUntil,
    pausedUntil,
    quietUntil: Math.max(now + s.quietMs, pausedUntil),
    cuts: state.cuts + 1,
  };
}

/** The rate after `clockMs` limited milliseconds since the last cut (or the start). */
function rateAt(state: RateState, s: RateSettings, clockMs: number): number {
  let rate: number;
  if (state.wmax === null) {
    rate = state.base * 2 ** (clockMs / s.doublingMs);
  } else {
    // W(t) = W_max · (1 + (1 − β)·(t/K − 1)³): β·W_max right after the cut, W_max at t = K.
    const x = clockMs / recoveryMs(state.wmax, s) - 1;
    rate = state.wmax * (1 + (1 - s.beta) * x * x * x);
  }
  return clamp(rate, s.floor, s.ceiling);
}

/** CUBIC's K for a W_max. */
export function recoveryMs(wmax: number, s: RateSettings): number {
  return Math.max(s.recoveryMs, (s.recoveryRequests / wmax) * 1000);
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
    // Nothing accrues while Devin asked everyone to wait: after the pause, the burst starts empty.
    return { bucket: { tokens: 0, refilledAt: pausedUntil }, granted: 0, waitMs: pausedUntil - now };
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
