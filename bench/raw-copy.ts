/*
 * The write-path baseline: a raw `COPY skill_embeddings (…) FROM STDIN (FORMAT binary)` of the
 * vectors, with nothing else around it (no staging, no compare-and-set, no upsert). Written here
 * from PostgreSQL's documented binary COPY format, independently of the adapter's own encoder.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BenchDatabase } from "./db.js";

export interface RawRow {
  readonly skillId: number;
  readonly embedding: Float32Array;
  readonly model: string;
  readonly version: string;
  readonly hash: string;
}

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
const COLUMNS = "skill_embeddings (skill_id, embedding, model_name, model_version, input_hash)";

/** Rows in COPY's binary format: int4 key, pgvector (int16 dim, int16 0, float4s), three texts. */
export function encodeCopy(rows: readonly RawRow[]): Buffer {
  const texts = rows.map((r) => [r.model, r.version, r.hash].map((t) => Buffer.from(t, "utf8")));
  let size = SIGNATURE.length + 8 + 2;
  rows.forEach((row, i) => {
    size += 2 + 8 + 4 + 4 + 4 * row.embedding.length;
    for (const t of texts[i]!) size += 4 + t.length;
  });
  const buffer = Buffer.alloc(size);
  SIGNATURE.copy(buffer, 0);
  let at = SIGNATURE.length + 8; // flags and header extension: zero
  rows.forEach((row, i) => {
    at = buffer.writeInt16BE(5, at);
    at = buffer.writeInt32BE(4, at);
    at = buffer.writeInt32BE(row.skillId, at);
    at = buffer.writeInt32BE(4 + 4 * row.embedding.length, at);
    at = buffer.writeInt16BE(row.embedding.length, at);
    at = buffer.writeInt16BE(0, at);
    for (const x of row.embedding) at = buffer.writeFloatBE(x, at);
    for (const t of texts[i]!) {
      at = buffer.writeInt32BE(t.length, at);
      at += t.copy(buffer, at);
    }
  });
  buffer.writeInt16BE(-1, at);
  return buffer;
}

/** One COPY statement for all the rows. */
export async function rawCopy(database: BenchDatabase, rows: readonly RawRow[]): Promise<void> {
  const file = encodeCopy(rows);
  if (database.pglite) {
    await database.pglite.query(`copy ${COLUMNS} from '/dev/blob' with (format binary)`, [], {
      blob: new Blob([file as Uint8Array<ArrayBuffer>]),
    });
    return;
  }
  const writable = await database.sql!.unsafe(`copy ${COLUMNS} from stdin with (format binary)`).writable();
  await pipeline(Readable.from([file]), writable);
}
