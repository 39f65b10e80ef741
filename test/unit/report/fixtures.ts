import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Plan } from '../../../src/reconcile/plan.js';
import { parsePlanJson } from '../../../src/report/json.js';

export type FixtureName = 'empty' | 'typical' | 'blocked' | 'incomplete' | 'hostile';

export function fixturePath(name: FixtureName): string {
  return fileURLToPath(new URL(`../../fixtures/plans/${name}.json`, import.meta.url));
}

export function fixtureText(name: FixtureName): string {
  return readFileSync(fixturePath(name), 'utf8');
}

/** Loaded through the real reader, so every fixture is also a parser test. */
export function loadPlan(name: FixtureName): Plan {
  return parsePlanJson(fixtureText(name), `${name}.json`);
}
