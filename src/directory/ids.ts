// Directory ids as one canonical string. A GUID (AD objectGUID, OpenLDAP entryUUID, an Entra object
// id) is the same id whatever tool printed it: PowerShell and ADSI Edit print upper case, some
// Windows tools wrap it in braces, LDAP servers print lower case. Comparing such ids as written made
// a mapping select nothing and plan the removal of its group's members, so every place that stores
// or compares an id goes through here: the config loader, every source, and the core's selectors.

const GUID = /^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$/;

/** A GUID-shaped id lower-cased without braces; any other id trimmed and otherwise as written. */
export function normalizeDirectoryId(id: string): string {
  const t = id.trim();
  // Only 36 characters (38 in braces) can be a GUID: other ids skip the regex (a file or LDAP read
  // normalizes every user and member id, hundreds of thousands per run).
  if (t.length !== 36 && t.length !== 38) return t;
  const m = GUID.exec(t);
  return m ? (m[1] as string).toLowerCase() : t;
}
