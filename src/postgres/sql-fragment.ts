/**
 * A piece of SQL with bound values, shaped like a tagged template: `strings[0]`, `values[0]`,
 * `strings[1]`… (`strings.length === values.length + 1`). Helpers of the kit return these where a
 * store splices their SQL into its own statement, so that each store renders them with its own query
 * builder (Drizzle: `sql`, Kysely: `sql`, plain text: {@link fragmentQuery}) and its own parameter
 * numbering.
 */
export interface SqlFragment {
  readonly strings: readonly string[];
  readonly values: readonly unknown[];
}

/**
 * Tag for a {@link SqlFragment}: interpolated values become bound parameters, never SQL text.
 * @example
 * ```ts
 * const from = sqlFragment`unnest(${keys}::text[]) as v(key)`;
 * ```
 */
export function sqlFragment(strings: readonly string[], ...values: unknown[]): SqlFragment {
  return { strings: [...strings], values };
}

/** Raw SQL text, no values. */
export function rawFragment(text: string): SqlFragment {
  return { strings: [text], values: [] };
}

/** Joins fragments with a separator (raw SQL text between them). */
export function joinFragments(fragments: readonly SqlFragment[], separator: string): SqlFragment {
  const strings: string[] = [""];
  const values: unknown[] = [];
  fragments.forEach((fragment, index) => {
    if (index > 0) strings[strings.length - 1] += separator;
    strings[strings.length - 1] += fragment.strings[0] ?? "";
    for (let i = 0; i < fragment.values.length; i++) {
      values.push(fragment.values[i]);
      strings.push(fragment.strings[i + 1] ?? "");
    }
  });
  return { strings, values };
}

/**
 * The fragment as statement text with numbered parameters (`$1`…, from `firstParameter`) and their
 * values: what {@link PgSession.query} takes.
 *
 * @example
 * ```ts
 * const { text, params } = fragmentQuery(sqlFragment`select * from t where id = ${7}`);
 * await session.query(text, params); // "select * from t where id = $1", [7]
 * ```
 */
export function fragmentQuery(
  fragment: SqlFragment,
  firstParameter = 1,
): { readonly text: string; readonly params: unknown[] } {
  let text = fragment.strings[0] ?? "";
  fragment.values.forEach((_, i) => {
    text += `$${firstParameter + i}${fragment.strings[i + 1] ?? ""}`;
  });
  return { text, params: [...fragment.values] };
}
