// Which directory groups a mapping's selector picks. Pure, and one definition for the planner and
// for `idsync validate`, so validate can never pass a selector the planner would miss.
import { tryNormalizeDn } from '../directory/dn.js';
import { normalizeDirectoryId } from '../directory/ids.js';
import { globMatcher } from './glob.js';
import type { GroupSelector } from './policy.js';

/**
 * Ids compare as canonical GUIDs, names case-insensitively, DNs by their normalised form (case,
 * spacing and escaping do not change which entry a DN names), patterns as globs over names.
 */
export function selectGroups<G extends { id: string; name: string; dn?: string | undefined }>(
  selector: GroupSelector,
  groups: readonly G[],
): G[] {
  if ('id' in selector) {
    const wanted = normalizeDirectoryId(selector.id);
    return groups.filter((g) => normalizeDirectoryId(g.id) === wanted);
  }
  if ('name' in selector) {
    const wanted = selector.name.toLowerCase();
    return groups.filter((g) => g.name.toLowerCase() === wanted);
  }
  if ('dn' in selector) {
    const wanted = normaliseDn(selector.dn);
    return groups.filter((g) => g.dn !== undefined && normaliseDn(g.dn) === wanted);
  }
  const match = globMatcher(selector.pattern);
  return groups.filter((g) => match(g.name));
}

/** An unparsable DN compares as written, trimmed and lower-cased. */
export function normaliseDn(dn: string): string {
  return tryNormalizeDn(dn) ?? dn.trim().toLowerCase();
}
