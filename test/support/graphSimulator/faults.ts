// Injected failures: a fault matches a method and a path (any path, the token endpoint included), lets
// `skip` matching requests through, then fails the next `times` of them with its status, optional
// Retry-After, a delay or a dropped connection.
import type { GraphFault } from './types.js';

interface ArmedFault {
  f: GraphFault;
  seen: number;
  failed: number;
}

export class Faults {
  private faults: ArmedFault[] = [];

  add(f: GraphFault): void {
    this.faults.push({ f, seen: 0, failed: 0 });
  }

  clear(): void {
    this.faults = [];
  }

  /** The fault that fails this request, if any (counting it against every fault that matches). */
  match(method: string, path: string): GraphFault | undefined {
    for (const a of this.faults) {
      if (a.f.method !== undefined && a.f.method.toUpperCase() !== method) continue;
      a.f.path.lastIndex = 0; // a /g or /y regex keeps state between test() calls
      if (!a.f.path.test(path)) continue;
      a.seen++;
      if (a.seen <= (a.f.skip ?? 0)) continue;
      if (a.failed >= (a.f.times ?? 1)) continue;
      a.failed++;
      return a.f;
    }
    return undefined;
  }
}
