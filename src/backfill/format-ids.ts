/** Prints a row key for messages: strings as they are, bigints without `n`, composites as JSON. */
export function formatId(id: unknown): string {
  if (typeof id === "string" || typeof id === "number" || typeof id === "bigint") return String(id);
  try {
    return JSON.stringify(id, (_key, value) => (typeof value === "bigint" ? String(value) : value));
  } catch {
    return String(id);
  }
}

/** Prints up to `max` keys, then how many more: `1, 2, 3 … (+97 more)`. */
export function formatIds(ids: readonly unknown[], max = 10): string {
  const shown = ids.slice(0, max).map(formatId).join(", ");
  return ids.length > max ? `${shown} … (+${ids.length - max} more)` : shown;
}
