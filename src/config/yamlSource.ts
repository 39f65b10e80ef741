// Positions in the YAML text for key paths, so every problem can say `file:line:column`.
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type ParsedNode,
  parseDocument,
} from 'yaml';
import type { ConfigPath } from './paths.js';

export interface Position {
  line: number;
  column: number;
}

type AnyNode = Node | ParsedNode;

interface Step {
  node: AnyNode | null;
  /** The key that led to `node`, when it was reached through a map. */
  key: AnyNode | null;
}

export class YamlSource {
  readonly doc: Document.Parsed;
  private readonly lines: LineCounter;

  constructor(text: string) {
    this.lines = new LineCounter();
    // merge: `<<: *defaults` lets several mappings share settings, a common YAML idiom.
    // uniqueKeys: false, because the parser's own check compares every key with every other one
    // (20 000 keys took half a minute); duplicateKeys() does the same with a set per mapping.
    this.doc = parseDocument(text, {
      lineCounter: this.lines,
      prettyErrors: false,
      merge: true,
      uniqueKeys: false,
    });
  }

  /** Keys that appear twice in one mapping (the later ones), in document order, at most `limit`. */
  duplicateKeys(limit: number): Array<{ path: ConfigPath; offset: number }> {
    const out: Array<{ path: ConfigPath; offset: number }> = [];
    const visit = (node: unknown, path: PropertyKey[]): void => {
      if (out.length >= limit) return;
      if (isMap(node)) {
        const seen = new Set<string>();
        for (const pair of node.items) {
          const key = pair.key;
          const value = isScalar(key) ? key.value : undefined;
          const id =
            typeof value === 'string' ||
            typeof value === 'number' ||
            typeof value === 'boolean' ||
            value === null
              ? `${typeof value}:${String(value)}`
              : undefined;
          if (id !== undefined && seen.has(id)) {
            const offset = isScalar(key) ? key.range?.[0] : undefined;
            if (offset !== undefined) out.push({ path: [...path, keyOf(key)], offset });
            if (out.length >= limit) return;
          } else if (id !== undefined) seen.add(id);
          visit(pair.value, [...path, keyOf(key)]);
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => {
          visit(item, [...path, i]);
        });
      }
    };
    visit(this.doc.contents, []);
    return out;
  }

  position(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  /**
   * Where a problem at `path` should point. A scalar points at its value; a collection at the key
   * naming it (the line a person looks for); a missing key at the nearest object that should hold
   * it.
   */
  locate(path: ConfigPath): Position {
    const steps = this.walk(path);
    const last = steps[steps.length - 1];
    const complete = steps.length === path.length + 1;
    if (last === undefined) return { line: 1, column: 1 };
    // An empty value (`token:`) has a zero-width range after the colon; the key reads better.
    const empty = isScalar(last.node) && last.node.value === null && last.key !== null;
    if (complete && last.node && !isCollection(last.node) && !empty && offsetOf(last.node) !== undefined) {
      return this.at(last.node);
    }
    return this.at(last.key ?? last.node);
  }

  /** Position of the key itself (for an unknown key), falling back to `locate`. */
  locateKey(path: ConfigPath): Position {
    const steps = this.walk(path);
    const last = steps[steps.length - 1];
    if (steps.length === path.length + 1 && last?.key) return this.at(last.key);
    return this.locate(path);
  }

  /** The key path of the innermost node containing `offset` (for YAML errors such as duplicate keys). */
  pathAt(offset: number): ConfigPath {
    const path: PropertyKey[] = [];
    let node: unknown = this.doc.contents;
    for (;;) {
      if (isMap(node)) {
        const pair = node.items.find((p) => contains(p.key, offset) || contains(p.value, offset));
        if (!pair) return path;
        path.push(keyOf(pair.key));
        if (contains(pair.key, offset)) return path;
        node = pair.value;
      } else if (isSeq(node)) {
        const index = node.items.findIndex((item) => contains(item, offset));
        if (index < 0) return path;
        path.push(index);
        node = node.items[index];
      } else {
        return path;
      }
    }
  }

  private at(node: AnyNode | null): Position {
    const offset = node ? offsetOf(node) : undefined;
    return offset === undefined ? { line: 1, column: 1 } : this.position(offset);
  }

  private walk(path: ConfigPath): Step[] {
    const steps: Step[] = [{ node: this.doc.contents, key: null }];
    let node: unknown = this.doc.contents;
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      let next: Step | undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && keyOf(p.key) === String(seg));
        if (pair) next = { node: asNode(pair.value), key: asNode(pair.key) };
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item !== undefined) next = { node: asNode(item), key: null };
      }
      if (!next) break;
      steps.push(next);
      node = next.node;
    }
    return steps;
  }
}

function asNode(v: unknown): AnyNode | null {
  return isScalar(v) || isCollection(v) || isAlias(v) ? v : null;
}

function keyOf(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function offsetOf(node: AnyNode): number | undefined {
  return node.range?.[0];
}

function contains(node: unknown, offset: number): boolean {
  const n = asNode(node);
  const range = n?.range;
  return (
    range !== undefined && range !== null && offset >= range[0] && offset < Math.max(range[1], range[0] + 1)
  );
}
