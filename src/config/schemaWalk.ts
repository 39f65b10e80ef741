// Finding the zod schema that governs a key path, following the data through discriminated
// unions (source.type) and lists. Used for "did you mean" and for typing `${VAR}` values.
import { z } from 'zod';
import { type ConfigPath, valueAt } from './paths.js';

function unwrap(schema: z.ZodType, data: unknown): z.ZodType | undefined {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodDiscriminatedUnion) {
      const union: z.ZodDiscriminatedUnion = s;
      const discriminator = union.def.discriminator;
      const kind = valueAt(data, [discriminator]);
      const option = (union.options as readonly z.ZodType[]).find(
        (o) => o instanceof z.ZodObject && o.shape[discriminator]?.safeParse(kind).success,
      );
      if (!option) return undefined;
      s = option;
    } else {
      return s;
    }
  }
}

/** The schema at `path`, wrappers removed; undefined where the schema has no such path. */
export function schemaAt(schema: z.ZodType, path: ConfigPath, data: unknown): z.ZodType | undefined {
  let d: unknown = data;
  let s = unwrap(schema, d);
  for (const seg of path) {
    if (s instanceof z.ZodObject && typeof seg === 'string' && seg in s.shape) s = s.shape[seg] as z.ZodType;
    else if (s instanceof z.ZodArray && typeof seg === 'number') s = s.element as z.ZodType;
    else return undefined;
    d = valueAt(d, [seg]);
    s = unwrap(s, d);
  }
  return s;
}

/** Keys an object schema at `path` accepts. */
export function knownKeys(schema: z.ZodType, path: ConfigPath, data: unknown): string[] {
  const s = schemaAt(schema, path, data);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** Whether the value at `path` should be a number or a boolean (for typing substituted text). */
export function scalarKindAt(
  schema: z.ZodType,
  path: ConfigPath,
  data: unknown,
): 'number' | 'boolean' | undefined {
  const s = schemaAt(schema, path, data);
  if (s instanceof z.ZodNumber) return 'number';
  if (s instanceof z.ZodBoolean) return 'boolean';
  return undefined;
}
