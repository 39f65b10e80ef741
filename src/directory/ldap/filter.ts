// LDAP search filters (RFC 4515): a parser that says where a configured filter is wrong, and the
// bridge to ldapts filter objects.
//
// Configured filters are parsed here rather than by ldapts' string parser, which decodes each
// hex-escaped byte as its own character (so `\c3\a9` for "é" reaches the server as two wrong
// characters), rejects numeric OIDs and attribute options, and reports problems without a
// position. The parse result is turned into ldapts Filter objects, which ldapts encodes as given.
import {
  AndFilter,
  ApproximateFilter,
  EqualityFilter,
  ExtensibleFilter,
  Filter,
  GreaterThanEqualsFilter,
  LessThanEqualsFilter,
  NotFilter,
  OrFilter,
  PresenceFilter,
  SubstringFilter,
} from 'ldapts';

export type FilterNode =
  | { kind: 'and' | 'or'; children: FilterNode[] }
  | { kind: 'not'; child: FilterNode }
  | { kind: 'present'; attribute: string }
  | { kind: 'equal' | 'approx' | 'ge' | 'le'; attribute: string; value: Buffer }
  | { kind: 'substring'; attribute: string; initial?: string; any: string[]; final?: string }
  | { kind: 'extensible'; attribute?: string; dnAttributes: boolean; rule?: string; value: string };

export class FilterSyntaxError extends Error {
  constructor(
    readonly filter: string,
    /** 1-based column in `filter`. */
    readonly column: number,
    readonly reason: string,
  ) {
    super(`invalid LDAP filter ${JSON.stringify(filter)}: column ${column}: ${reason}`);
    this.name = 'FilterSyntaxError';
  }
}

const ATTR_START = /[A-Za-z0-9]/;
const ATTR_CHAR = /[A-Za-z0-9_.-]/;
const DESCR = /^[A-Za-z][A-Za-z0-9_-]*$/;
const NUMERICOID = /^(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+$/;
const OPTION = /^[A-Za-z0-9-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a filter (RFC 4515). Throws FilterSyntaxError with the column of the problem. */
export function parseFilter(text: string): FilterNode {
  const lead = text.length - text.trimStart().length;
  const body = text.trim();
  if (body === '') throw new FilterSyntaxError(text, 1, 'the filter is empty');
  const p = new Parser(body, (pos, reason) => {
    const column = Math.max(1, Math.min(pos + lead + 1, text.length + 1));
    return new FilterSyntaxError(text, column, reason);
  });
  // A bare item without the outer parentheses (`objectClass=user`) is accepted, as ldapsearch does.
  const node = body.startsWith('(') ? p.filter() : p.item();
  if (p.i < body.length) {
    throw p.error(p.i, `unexpected ${JSON.stringify(body.slice(p.i, p.i + 1))} after the end of the filter`);
  }
  return node;
}

/** The problem with a filter, or undefined when it is valid. */
export function checkFilter(text: string): FilterSyntaxError | undefined {
  try {
    parseFilter(text);
    return undefined;
  } catch (err) {
    if (err instanceof FilterSyntaxError) return err;
    throw err;
  }
}

class Parser {
  i = 0;
  constructor(
    readonly s: string,
    readonly error: (pos: number, reason: string) => FilterSyntaxError,
  ) {}

  filter(): FilterNode {
    const open = this.i;
    if (this.s[this.i] !== '(') {
      throw this.error(
        this.i,
        this.i >= this.s.length ? 'missing "("' : `expected "(" but found ${JSON.stringify(this.s[this.i])}`,
      );
    }
    this.i++;
    let node: FilterNode;
    const c = this.s[this.i];
    if (c === '&' || c === '|') {
      this.i++;
      const children: FilterNode[] = [];
      while (this.s[this.i] === '(') children.push(this.filter());
      if (children.length === 0) {
        const what = c === '&' ? 'an AND' : 'an OR';
        throw this.error(this.i, `expected "(" after "${c}": ${what} needs at least one filter inside`);
      }
      node = { kind: c === '&' ? 'and' : 'or', children };
    } else if (c === '!') {
      this.i++;
      node = { kind: 'not', child: this.filter() };
    } else {
      node = this.item();
    }
    if (this.s[this.i] !== ')') {
      if (this.i >= this.s.length) {
        throw this.error(
          this.i,
          `missing ")": the "(" at column ${this.error(open, '').column} is not closed`,
        );
      }
      throw this.error(this.i, `expected ")" but found ${JSON.stringify(this.s[this.i])}`);
    }
    this.i++;
    return node;
  }

  item(): FilterNode {
    const start = this.i;
    if (this.s[this.i] === ':') return this.extensible(undefined);
    const attribute = this.attributeDescription();
    const op = this.s[this.i];
    if (op === ':') return this.extensible(attribute);
    if (op === '=') {
      this.i++;
      const parts = this.value(true);
      if (parts.length === 1) return { kind: 'equal', attribute, value: (parts[0] as Part).bytes };
      if (parts.every((p) => p.bytes.length === 0)) return { kind: 'present', attribute };
      const text = parts.map((p) => this.text(p));
      const first = text[0] as string;
      const last = text[text.length - 1] as string;
      return {
        kind: 'substring',
        attribute,
        ...(first === '' ? {} : { initial: first }),
        any: text.slice(1, -1).filter((t) => t !== ''),
        ...(last === '' ? {} : { final: last }),
      };
    }
    const two = this.s.slice(this.i, this.i + 2);
    const kind = two === '~=' ? 'approx' : two === '>=' ? 'ge' : two === '<=' ? 'le' : undefined;
    if (kind === undefined) {
      if (this.i >= this.s.length) throw this.error(this.i, 'missing "=" and a value');
      throw this.error(
        this.i,
        `expected "=", "~=", ">=", "<=" or ":" after the attribute ${JSON.stringify(this.s.slice(start, this.i))}, found ${JSON.stringify(this.s[this.i])}`,
      );
    }
    this.i += 2;
    const parts = this.value(false);
    return { kind, attribute, value: (parts[0] as Part).bytes };
  }

  /** attributedescription = (descr / numericoid) *(";" option) */
  private attributeDescription(): string {
    const start = this.i;
    if (!ATTR_START.test(this.s[this.i] ?? '')) {
      const found = this.s[this.i];
      throw this.error(
        this.i,
        found === undefined
          ? 'expected an attribute name'
          : `expected an attribute name, found ${JSON.stringify(found)}`,
      );
    }
    while (ATTR_CHAR.test(this.s[this.i] ?? '')) this.i++;
    const type = this.s.slice(start, this.i);
    if (!DESCR.test(type) && !NUMERICOID.test(type)) {
      throw this.error(start, `invalid attribute name ${JSON.stringify(type)}`);
    }
    while (this.s[this.i] === ';') {
      const optStart = ++this.i;
      while (/[A-Za-z0-9-]/.test(this.s[this.i] ?? '')) this.i++;
      if (!OPTION.test(this.s.slice(optStart, this.i))) {
        throw this.error(optStart, 'expected an attribute option after ";"');
      }
    }
    return this.s.slice(start, this.i);
  }

  /** extensible = [attr] [":dn"] [":" matchingrule] ":=" assertionvalue */
  private extensible(attribute: string | undefined): FilterNode {
    let dnAttributes = false;
    let rule: string | undefined;
    if (this.s.slice(this.i, this.i + 3).toLowerCase() === ':dn' && this.s[this.i + 3] === ':') {
      dnAttributes = true;
      this.i += 3;
    }
    if (this.s[this.i] === ':' && this.s[this.i + 1] !== '=') {
      this.i++;
      const start = this.i;
      while (ATTR_CHAR.test(this.s[this.i] ?? '')) this.i++;
      rule = this.s.slice(start, this.i);
      if (!DESCR.test(rule) && !NUMERICOID.test(rule)) {
        throw this.error(start, 'expected a matching rule (a name or an OID such as 1.2.840.113556.1.4.803)');
      }
    }
    if (attribute === undefined && rule === undefined) {
      throw this.error(
        this.i,
        'an extensible match without an attribute needs a matching rule (":rule:=value")',
      );
    }
    if (this.s.slice(this.i, this.i + 2) !== ':=') {
      throw this.error(this.i, 'expected ":=" in an extensible match');
    }
    this.i += 2;
    const parts = this.value(false);
    return {
      kind: 'extensible',
      ...(attribute === undefined ? {} : { attribute }),
      dnAttributes,
      ...(rule === undefined ? {} : { rule }),
      value: this.text(parts[0] as Part),
    };
  }

  /** assertionvalue, split at unescaped "*" when stars are allowed. */
  private value(allowStar: boolean): Part[] {
    const parts: Part[] = [];
    let bytes: number[] = [];
    let partStart = this.i;
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined || c === ')') break;
      if (c === '(') throw this.error(this.i, 'unescaped "(" in a value (write \\28)');
      if (c === '*') {
        if (!allowStar)
          throw this.error(this.i, 'unescaped "*" in a value (write \\2a; wildcards only work with "=")');
        parts.push({ bytes: Buffer.from(bytes), at: partStart });
        bytes = [];
        this.i++;
        partStart = this.i;
        continue;
      }
      if (c === '\\') {
        const hex = this.s.slice(this.i + 1, this.i + 3);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
          throw this.error(
            this.i,
            `invalid escape "\\${hex.slice(0, 1)}" (write "\\" and two hex digits: \\2a for *, \\28 for (, \\29 for ), \\5c for \\)`,
          );
        }
        bytes.push(Number.parseInt(hex, 16));
        this.i += 3;
        continue;
      }
      const ch = String.fromCodePoint(this.s.codePointAt(this.i) as number);
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      this.i += ch.length;
    }
    parts.push({ bytes: Buffer.from(bytes), at: partStart });
    return parts;
  }

  private text(part: Part): string {
    try {
      return utf8.decode(part.bytes);
    } catch {
      throw this.error(part.at, 'a value that is not UTF-8 text can only be matched with "=" (no wildcards)');
    }
  }
}

interface Part {
  bytes: Buffer;
  at: number;
}

/** ldapts filter objects for a parsed filter. */
export function toLdaptsFilter(node: FilterNode): Filter {
  switch (node.kind) {
    case 'and':
      return new AndFilter({ filters: node.children.map(toLdaptsFilter) });
    case 'or':
      return new OrFilter({ filters: node.children.map(toLdaptsFilter) });
    case 'not':
      return new NotFilter({ filter: toLdaptsFilter(node.child) });
    case 'present':
      return new PresenceFilter({ attribute: node.attribute });
    case 'equal':
      // Text goes as a string; binary (an objectGUID written as \xx escapes) as the raw bytes.
      return new EqualityFilter({ attribute: node.attribute, value: textOrBytes(node.value) });
    case 'approx':
      return new ApproximateFilter({ attribute: node.attribute, value: utf8.decode(node.value) });
    case 'ge':
      return new GreaterThanEqualsFilter({ attribute: node.attribute, value: utf8.decode(node.value) });
    case 'le':
      return new LessThanEqualsFilter({ attribute: node.attribute, value: utf8.decode(node.value) });
    case 'substring':
      return new SubstringFilter({
        attribute: node.attribute,
        ...(node.initial === undefined ? {} : { initial: node.initial }),
        any: node.any,
        ...(node.final === undefined ? {} : { final: node.final }),
      });
    case 'extensible':
      return new ExtensibleFilter({
        ...(node.attribute === undefined ? {} : { matchType: node.attribute }),
        dnAttributes: node.dnAttributes,
        ...(node.rule === undefined ? {} : { rule: node.rule }),
        value: node.value,
      });
  }
}

function textOrBytes(value: Buffer): string | Buffer {
  try {
    return utf8.decode(value);
  } catch {
    return value;
  }
}

/** A configured filter as an ldapts Filter. Throws FilterSyntaxError. */
export function compileFilter(text: string): Filter {
  return toLdaptsFilter(parseFilter(text));
}

/** (&a b ...) of compiled filters, flattening a single one. */
export function andOf(filters: readonly Filter[]): Filter {
  return filters.length === 1 ? (filters[0] as Filter) : new AndFilter({ filters: [...filters] });
}

/** Escapes one value for a filter string (RFC 4515 §3): `*` `(` `)` `\` and NUL. */
export function escapeFilterValue(value: string | Buffer): string {
  return Filter.escape(value);
}

/** `(attribute=value)` with the value escaped: the one way idsync puts a value into a filter. */
export function equalityFilter(attribute: string, value: string | Buffer): string {
  return `(${attribute}=${escapeFilterValue(value)})`;
}

/** The config loader's message for a bad filter: the filter, the column and what is wrong. */
export function describeFilterProblem(err: FilterSyntaxError): string {
  return `expected an LDAP filter (RFC 4515), found ${JSON.stringify(err.filter)}: column ${err.column}: ${err.reason}`;
}
