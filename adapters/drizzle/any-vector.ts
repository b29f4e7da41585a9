import { entityKind } from "drizzle-orm";
import { type AnyPgTable, PgVector, PgVectorBuilder, type PgVectorBuilderInitial } from "drizzle-orm/pg-core";

class PgAnyVector extends PgVector<any> {
  static override readonly [entityKind]: string = "PgAnyVector";
  override getSQLType(): string {
    return "vector";
  }
}

class PgAnyVectorBuilder extends PgVectorBuilder<any> {
  static override readonly [entityKind]: string = "PgAnyVectorBuilder";
  /** @internal */
  build(table: AnyPgTable): PgAnyVector {
    return new PgAnyVector(table, (this as unknown as { config: never }).config);
  }
}

/**
 * A pgvector `vector` column of no declared size (SQL type `vector`, not `vector(n)`): what a target
 * keeping several models side by side (`target.perModel`) needs when the models' sizes differ — each
 * model's vectors are indexed and searched through a cast to their own size (`createIndex({ model })`
 * builds that partial index). Drizzle's `vector()` always declares a size.
 * @example
 * ```ts
 * const skillEmbeddings = pgTable("skill_embeddings", {
 *   skillId: integer("skill_id").notNull(),
 *   embedding: anyVector("embedding").notNull(),
 *   // …model, version, hash columns; uniqueIndex().on(t.skillId, t.modelName, t.modelVersion)
 * });
 * ```
 */
export function anyVector<Name extends string>(name: Name): PgVectorBuilderInitial<Name, number> {
  return new PgAnyVectorBuilder(name, {
    dimensions: undefined as unknown as number,
  }) as unknown as PgVectorBuilderInitial<Name, number>;
}
