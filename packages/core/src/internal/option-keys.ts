import { ConfigError } from '../errors';

type Missing<T, K extends readonly PropertyKey[]> = Exclude<keyof T, K[number]>;

/**
 * Every option name of `T`, written once: the compiler refuses a name `T` does not have, and a
 * name of `T` the list lacks (`'missing option': 'newOption'`), so an option added to an
 * interface cannot be forgotten by the unknown-option check.
 *
 * @example
 * const KEYS = optionKeys<CacheOptions>()(['tokens', 'state']);
 */
export function optionKeys<T>() {
  return <const K extends readonly (keyof T & string)[]>(
    keys: K &
      ([Missing<T, K>] extends [never] ? unknown : { readonly 'missing option': Missing<T, K> }),
  ): readonly string[] => keys;
}

/** An object literal (or `Object.create(null)`), as opposed to a class instance or a function. */
export function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Throws {@link ConfigError} for the first own key of `value` that is not in `known`, naming it
 * with `where` (`'jwt.'`, `'issuers[0].'`) and the closest known name: "unknown option
 * 'purpose'; did you mean 'purposes'?". Class instances (a store, a `UsageLimits`) are not
 * options objects and are left alone, as are keys whose value is `undefined`.
 */
export function rejectUnknownKeys(value: unknown, known: readonly string[], where = ''): void {
  if (!isPlainObject(value)) return;
  for (const key of Object.keys(value)) {
    if (known.includes(key) || value[key] === undefined) continue;
    const near = closest(key, known);
    throw new ConfigError(
      near === undefined
        ? `unknown option '${where}${key}'; the options here are ${known.map((k) => `'${k}'`).join(', ')}`
        : `unknown option '${where}${key}'; did you mean '${where}${near}'?`,
    );
  }
}

/** The known name nearest to `key`, when near enough to be a typo. */
function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const other = name.toLowerCase();
    // A name cut short or run on (`permissions` for `permissionsClaim`) counts as one edit.
    const distance =
      other === lower
        ? 0
        : Math.min(lower.length, other.length) >= 4 &&
            (other.startsWith(lower) || lower.startsWith(other))
          ? 1
          : editDistance(lower, other);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  // Two edits for short names, about one in three for longer ones.
  const allowed = Math.max(2, Math.ceil(key.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** Edits (insert, delete, replace, swap two neighbours) from `a` to `b` (Damerau-Levenshtein, restricted). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i += 1) rows.push([i]);
  for (let j = 1; j <= b.length; j += 1) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
