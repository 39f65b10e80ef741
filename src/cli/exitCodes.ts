/** Exit codes of every idsync command (DESIGN §8). */
export const EXIT = {
  ok: 0,
  runtime: 1,
  usage: 2,
  blocked: 3,
  stalePlan: 4,
} as const;
