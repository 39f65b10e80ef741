// Distinguished names (RFC 4514), parsed and reduced to one canonical string so that a group's
// member value matches the entry it names however the value was written: `CN=Smith\2C John,
// OU=People` and `cn=smith\, john,ou=people` are the same entry. Servers hand back member values
// in whatever form the tool that wrote them used, so exact string comparison silently drops
// members.
//
// Canonical form: attribute types lower-cased with long names and OIDs mapped to the short name;
// values unescaped, NFC-normalised, lower-cased and re-escaped one way; the AVAs of a multi-valued
// RDN sorted. Lower-casing values assumes case-insensitive matching rules, which holds for the
// naming attributes directories use (cn, uid, ou, dc, o, c, l, st) and for all of Active Directory.

export interface Ava {
  /** Canonical attribute type (lower case, short name where one is known). */
  type: string;
  /** The value as the directory holds it: unescaped, case preserved. */
  value: string;
}

export type Rdn = Ava[];

export class DnSyntaxError extends Error {
  constructor(
    readonly dn: string,
    /** 1-based column of the problem in `dn`. */
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${reason} at column ${column} of ${JSON.stringify(dn)}`);
    this.name = 'DnSyntaxError';
  }
}

// RFC 4519 long names and OIDs of the naming attributes: a DN written by a tool that prefers
// `commonName=` or `2.5.4.3=` names the same entry as `cn=`.
const TYPE_ALIASES: Readonly<Record<string, string>> = {
  commonname: 'cn',
  '2.5.4.3': 'cn',
  userid: 'uid',
  '0.9.2342.19200300.100.1.1': 'uid',
  organizationalunitname: 'ou',
  '2.5.4.11': 'ou',
  organizationname: 'o',
  '2.5.4.10': 'o',
  domaincomponent: 'dc',
  '0.9.2342.19200300.100.1.25': 'dc',
  countryname: 'c',
  '2.5.4.6': 'c',
  localityname: 'l',
  '2.5.4.7': 'l',
  stateorprovincename: 'st',
  '2.5.4.8': 'st',
  streetaddress: 'street',
  '2.5.4.9': 'street',
  surname: 'sn',
  '2.5.4.4': 'sn',
  '2.5.4.5': 'serialnumber',
  '2.5.4.42': 'givenname',
  '0.9.2342.19200300.100.1.3': 'mail',
};

function canonicalType(type: string): string {
  let t = type.toLowerCase();
  if (t.startsWith('oid.')) t = t.slice(4); // RFC 1779 style
  return TYPE_ALIASES[t] ?? t;
}

const KEYSTRING = /^[A-Za-z][A-Za-z0-9_-]*$/;
const NUMERICOID = /^(?:oid\.)?[0-9]+(?:\.[0-9]+)*$/i;
const HEX = /^[0-9A-Fa-f]{2}$/;
const SPECIALS = new Set([' ', '"', '#', '+', ',', ';', '<', '=', '>', '\\']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a DN string. An empty DN (the root) is `[]`. Throws DnSyntaxError with a column. */
export function parseDn(dn: string): Rdn[] {
  const rdns: Rdn[] = [];
  let i = 0;
  const n = dn.length;
  const fail = (at: number, reason: string): never => {
    throw new DnSyntaxError(dn, at + 1, reason);
  };
  const skipSpaces = (): void => {
    while (i < n && dn[i] === ' ') i++;
  };

  skipSpaces();
  if (i === n) return rdns;
  let rdn: Rdn = [];
  for (;;) {
    skipSpaces();
    const typeStart = i;
    while (i < n && dn[i] !== '=' && dn[i] !== ' ' && dn[i] !== ',' && dn[i] !== '+') i++;
    const rawType = dn.slice(typeStart, i);
    if (rawType === '') fail(typeStart, 'expected an attribute type');
    if (!KEYSTRING.test(rawType) && !NUMERICOID.test(rawType)) {
      fail(typeStart, `invalid attribute type ${JSON.stringify(rawType)}`);
    }
    skipSpaces();
    if (dn[i] !== '=') fail(i, `expected "=" after ${JSON.stringify(rawType)}`);
    i++;
    skipSpaces();
    const value = dn[i] === '#' ? readHexValue() : dn[i] === '"' ? readQuotedValue() : readStringValue();
    rdn.push({ type: canonicalType(rawType), value });
    skipSpaces();
    if (i === n) {
      rdns.push(rdn);
      return rdns;
    }
    const sep = dn[i];
    if (sep === '+') {
      i++;
      continue;
    }
    if (sep === ',' || sep === ';') {
      rdns.push(rdn);
      rdn = [];
      i++;
      continue;
    }
    fail(i, `unexpected ${JSON.stringify(sep)}`);
  }

  function readHexValue(): string {
    const start = i;
    i++;
    while (i < n && /[0-9A-Fa-f]/.test(dn[i] as string)) i++;
    const hex = dn.slice(start + 1, i);
    if (hex.length === 0 || hex.length % 2 !== 0)
      fail(start, 'expected an even number of hex digits after "#"');
    // A BER-encoded value: decode the common string types so `cn=#0403616263` matches `cn=abc`;
    // anything else keeps its hex form, which still compares equal to itself.
    return berString(Buffer.from(hex, 'hex')) ?? `#${hex.toLowerCase()}`;
  }

  function readQuotedValue(): string {
    // RFC 1779 quoting, still written by some older tools.
    const start = i;
    i++;
    const bytes: number[] = [];
    for (;;) {
      if (i >= n) fail(start, 'unterminated quoted value');
      const c = dn[i] as string;
      if (c === '"') {
        i++;
        break;
      }
      if (c === '\\') i = readEscape(bytes);
      else {
        const ch = String.fromCodePoint(dn.codePointAt(i) as number);
        pushChar(bytes, ch);
        i += ch.length;
      }
    }
    return decode(bytes, start);
  }

  function readStringValue(): string {
    const start = i;
    const bytes: number[] = [];
    // Unescaped trailing spaces are insignificant, escaped ones are part of the value.
    let significant = 0;
    while (i < n) {
      const c = dn[i] as string;
      if (c === ',' || c === '+' || c === ';') break;
      if (c === '\\') {
        i = readEscape(bytes);
        significant = bytes.length;
        continue;
      }
      if (c === '"' || c === '<' || c === '>' || c === '\0') {
        fail(i, `unescaped ${JSON.stringify(c)} in a value (write \\${c === '\0' ? '00' : c})`);
      }
      const cp = dn.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      pushChar(bytes, ch);
      if (ch !== ' ') significant = bytes.length;
      i += ch.length;
    }
    return decode(bytes.slice(0, significant), start);
  }

  function readEscape(bytes: number[]): number {
    const next = dn[i + 1];
    if (next === undefined) fail(i, 'a "\\" at the end of the DN');
    const pair = dn.slice(i + 1, i + 3);
    if (HEX.test(pair)) {
      bytes.push(Number.parseInt(pair, 16));
      return i + 3;
    }
    if (SPECIALS.has(next as string)) {
      bytes.push((next as string).charCodeAt(0));
      return i + 2;
    }
    return fail(i, `invalid escape "\\${next}" (escape only special characters, or write two hex digits)`);
  }

  function decode(bytes: number[], start: number): string {
    try {
      return utf8.decode(Uint8Array.from(bytes));
    } catch {
      return fail(start, 'hex escapes that are not valid UTF-8');
    }
  }
}

function pushChar(bytes: number[], ch: string): void {
  const code = ch.charCodeAt(0);
  if (ch.length === 1 && code < 0x80) bytes.push(code);
  else for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
}

/** The value of a BER-encoded string (UTF8String, PrintableString, IA5String, OCTET STRING...), if it is one. */
function berString(buf: Buffer): string | undefined {
  const tag = buf[0];
  if (tag === undefined || ![0x04, 0x0c, 0x13, 0x14, 0x16, 0x1a].includes(tag)) return undefined;
  let len = buf[1];
  let off = 2;
  if (len === undefined) return undefined;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0 || count > 3) return undefined;
    len = 0;
    for (let k = 0; k < count; k++) len = (len << 8) | (buf[off + k] ?? 0);
    off += count;
  }
  if (off + len !== buf.length) return undefined;
  try {
    return utf8.decode(buf.subarray(off));
  } catch {
    return undefined;
  }
}

/** Escapes one attribute value for a DN string (RFC 4514 §2.4). */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let k = 0; k < value.length; k++) {
    const c = value[k] as string;
    if (c === '\\' || c === ',' || c === '+' || c === '"' || c === ';' || c === '<' || c === '>') {
      out += `\\${c}`;
    } else if (c === '\0') {
      out += '\\00';
    } else if ((k === 0 && (c === ' ' || c === '#')) || (k === value.length - 1 && c === ' ')) {
      out += `\\${c}`;
    } else {
      out += c;
    }
  }
  return out;
}

function canonicalValue(value: string): string {
  return escapeDnValue(value.normalize('NFC').toLowerCase());
}

/** Canonical string of parsed RDNs. */
export function formatCanonical(rdns: readonly Rdn[]): string {
  return rdns
    .map((rdn) =>
      rdn
        .map((ava) => `${ava.type}=${canonicalValue(ava.value)}`)
        .sort()
        .join('+'),
    )
    .join(',');
}

// Most DNs in a directory are plain ASCII without escapes; they skip the character-level parser.
// The output is the same as the full parser's (the unit tests hold the two against each other).
const PLAIN = /^[\x20-\x21\x24-\x2a\x2d-\x3a\x3d\x3f-\x5b\x5d-\x7e,]*$/;
const PLAIN_TYPE = /^[a-z][a-z0-9_-]*$|^[0-9]+(?:\.[0-9]+)*$/;

function normalizePlain(dn: string): string | undefined {
  if (!PLAIN.test(dn)) return undefined;
  // Most often the DN is already canonical but for case (`uid=u1,ou=People,dc=example,dc=com`):
  // then its lower-case form is the answer, found in one pass without splitting it apart. This
  // runs for every user when member values are matched by canonical DN (100,000 at a time).
  const lower = dn.toLowerCase();
  if (isCanonicalPlain(lower)) return lower;
  const trimmed = dn.trim();
  if (trimmed === '') return '';
  const parts = trimmed.split(',');
  const out: string[] = new Array(parts.length);
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k] as string;
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const type = part.slice(0, eq).trim().toLowerCase();
    if (!PLAIN_TYPE.test(type)) return undefined;
    out[k] = `${TYPE_ALIASES[type] ?? type}=${part
      .slice(eq + 1)
      .trim()
      .toLowerCase()}`;
  }
  return out.join(',');
}

const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * Whether the split-and-trim normalisation above would give `s` (a lower-cased PLAIN DN) back
 * unchanged: every RDN `type=value` with a valid type that is no alias, no space around the `=`
 * or the `,`, nothing empty between commas. False sends it the long way, never to a wrong answer.
 */
function isCanonicalPlain(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  let i = 0;
  for (;;) {
    const typeStart = i;
    const c0 = s.charCodeAt(i);
    if (isLower(c0)) {
      for (i++; i < n; i++) {
        const c = s.charCodeAt(i);
        if (!(isLower(c) || isDigit(c) || c === 0x5f || c === 0x2d)) break;
      }
    } else if (isDigit(c0)) {
      // A numeric OID: digits in dot-separated runs, none empty.
      let afterDot = false;
      for (i++; i < n; i++) {
        const c = s.charCodeAt(i);
        if (isDigit(c)) afterDot = false;
        else if (c === 0x2e && !afterDot) afterDot = true;
        else break;
      }
      if (afterDot) return false;
    } else {
      return false;
    }
    if (i >= n || s.charCodeAt(i) !== 0x3d) return false; // a space or junk before '='
    // Aliases are long names (commonname, userid...) and OIDs; short types need no lookup.
    if ((i - typeStart >= 5 || isDigit(c0)) && TYPE_ALIASES[s.slice(typeStart, i)] !== undefined)
      return false;
    i++;
    const valueStart = i;
    while (i < n && s.charCodeAt(i) !== 0x2c) i++;
    if (i > valueStart && (s.charCodeAt(valueStart) === 0x20 || s.charCodeAt(i - 1) === 0x20)) return false;
    if (i === n) return true;
    i++;
  }
}

/** The canonical form of a DN. Throws DnSyntaxError. */
export function normalizeDn(dn: string): string {
  return normalizePlain(dn) ?? formatCanonical(parseDn(dn));
}

/** As normalizeDn, for the full parser only: the tests compare it with the fast path. */
export function normalizeDnSlow(dn: string): string {
  return formatCanonical(parseDn(dn));
}

/** The canonical form, or undefined when the DN is not valid. */
export function tryNormalizeDn(dn: string): string | undefined {
  try {
    return normalizeDn(dn);
  } catch {
    return undefined;
  }
}

/** Whether canonical `dn` is `base` or below it. */
export function isWithin(dn: string, base: string): boolean {
  if (base === '') return true;
  if (dn === base) return true;
  const comma = dn.length - base.length - 1;
  if (comma < 1 || dn[comma] !== ',' || !dn.endsWith(base)) return false;
  // The comma must separate RDNs, not sit escaped inside a value: an even run of backslashes
  // before it (canonical values escape every backslash) leaves it unescaped.
  let slashes = 0;
  for (let k = comma - 1; k >= 0 && dn[k] === '\\'; k--) slashes++;
  return slashes % 2 === 0;
}

/**
 * A `uniqueMember` value (nameAndOptionalUID, RFC 4517 §3.3.21) may end in `#'0101'B`; that bit
 * string is not part of the DN it names.
 */
export function stripOptionalUid(value: string): string {
  if (!value.endsWith("'B")) return value;
  const m = /#'[01]*'B$/.exec(value);
  return m ? value.slice(0, m.index) : value;
}
