/*
 * PostgreSQL binary encodings for the fast write paths. Sending vectors as text makes the server parse
 * every float (≈3,600 rows/s of 1,024 dimensions on a test machine); binary lets pgvector copy them.
 *
 * pgvector's binary form of one vector: int16 dim, int16 0 (unused), then dim float4, big-endian.
 */

import { type VectorColumnType, vectorBinarySize, writeVectorBinary } from "./vector-types.js";

const TEXT_OID = 25;

/** Bytes of one vector in pgvector's binary form. */
function vectorSize(dimensions: number): number {
  return 4 + 4 * dimensions;
}

function writeVector(view: DataView, offset: number, vector: Float32Array): number {
  return writeVectorBinary(view, offset, "vector", vector);
}

function viewOf(buffer: Buffer): DataView {
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/*
 * Array binary form (array_send): int32 ndim, int32 has-nulls, uint32 element type, then per
 * dimension int32 length and int32 lower bound, then each element as int32 byte length + bytes.
 */
function arrayHeader(view: DataView, elementOid: number, length: number): number {
  view.setInt32(0, 1);
  view.setInt32(4, 0);
  view.setUint32(8, elementOid);
  view.setInt32(12, length);
  view.setInt32(16, 1);
  return 20;
}

/**
 * A `vector[]` (or `halfvec[]`, or `varbit[]` of packed bits: `type`) in PostgreSQL's binary array
 * format, for a bind parameter sent in binary (a session with `capabilities.binaryParameters`).
 * `vectorOid` is the element type's oid in this database ({@link vectorTypeOid}).
 *
 * @example
 * ```ts
 * await session.query("select count(*) from unnest($1::vector[])", [vectorArray(oid, vectors)]);
 * ```
 */
export function vectorArray(
  vectorOid: number,
  vectors: readonly Float32Array[],
  type: VectorColumnType = "vector",
): Buffer {
  let size = 20;
  for (const vector of vectors) size += 4 + vectorBinarySize(type, vector);
  const buffer = Buffer.allocUnsafe(size);
  const view = viewOf(buffer);
  let at = arrayHeader(view, vectorOid, vectors.length);
  for (const vector of vectors) {
    view.setInt32(at, vectorBinarySize(type, vector));
    at = writeVectorBinary(view, at + 4, type, vector);
  }
  return buffer;
}

/** A `text[]` in PostgreSQL's binary array format (no escaping: every byte is sent as is). */
export function textArray(values: readonly string[]): Buffer {
  const encoded = values.map((value) => Buffer.from(value, "utf8"));
  let size = 20;
  for (const bytes of encoded) size += 4 + bytes.length;
  const buffer = Buffer.allocUnsafe(size);
  const view = viewOf(buffer);
  let at = arrayHeader(view, TEXT_OID, values.length);
  for (const bytes of encoded) {
    view.setInt32(at, bytes.length);
    buffer.set(bytes, at + 4);
    at += 4 + bytes.length;
  }
  return buffer;
}

const COPY_SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

/**
 * One field of a binary COPY row: a string is sent as UTF-8 (the binary form of `text`/`varchar`),
 * a `Float32Array` as a pgvector `vector`, a `Buffer` as already-encoded bytes, `null` as NULL.
 */
export type CopyField = string | Float32Array | Buffer | null;

function fieldSize(field: CopyField): number {
  if (field === null) return 0;
  if (typeof field === "string") return Buffer.byteLength(field, "utf8");
  if (field instanceof Float32Array) return vectorSize(field.length);
  return field.length;
}

/**
 * A `COPY … FROM … (FORMAT binary)` file: the signature, flags and extension length, then per row an
 * int16 field count and each field as int32 length + bytes (-1 for NULL), then an int16 -1 trailer.
 * Each field must be in the binary form of its column's type: see {@link CopyField} and
 * {@link binaryKeyEncoder}.
 *
 * @example
 * ```ts
 * await session.copyIn('"items" ("body", "embedding")', copyFile([["first", vector1], ["second", null]]));
 * ```
 */
export function copyFile(rows: readonly (readonly CopyField[])[]): Buffer {
  let size = COPY_SIGNATURE.length + 8 + 2;
  for (const row of rows) {
    size += 2;
    for (const field of row) size += 4 + fieldSize(field);
  }
  const buffer = Buffer.allocUnsafe(size);
  const view = viewOf(buffer);
  COPY_SIGNATURE.copy(buffer, 0);
  let at = COPY_SIGNATURE.length;
  view.setInt32(at, 0);
  view.setInt32(at + 4, 0);
  at += 8;
  for (const row of rows) {
    view.setInt16(at, row.length);
    at += 2;
    for (const field of row) {
      if (field === null) {
        view.setInt32(at, -1);
        at += 4;
      } else if (typeof field === "string") {
        const written = buffer.write(field, at + 4, "utf8");
        view.setInt32(at, written);
        at += 4 + written;
      } else if (field instanceof Float32Array) {
        view.setInt32(at, vectorSize(field.length));
        at = writeVector(view, at + 4, field);
      } else {
        view.setInt32(at, field.length);
        buffer.set(field, at + 4);
        at += 4 + field.length;
      }
    }
  }
  view.setInt16(at, -1);
  return buffer;
}

/** pgvector's text form, `[1,2.5,…]`: the portable (and slow) path. */
export function vectorText(vector: Float32Array): string {
  return `[${vector.join(",")}]`;
}

function fixed(size: number, write: (buffer: Buffer, key: string) => void): (key: string) => Buffer {
  return (key) => {
    const buffer = Buffer.allocUnsafe(size);
    write(buffer, key);
    return buffer;
  };
}

/** Binary forms of the key types a COPY can take, by `pg_type.typname`. */
const KEY_ENCODERS: Record<string, (key: string) => CopyField> = {
  int2: fixed(2, (buffer, key) => buffer.writeInt16BE(Number(key))),
  int4: fixed(4, (buffer, key) => buffer.writeInt32BE(Number(key))),
  int8: fixed(8, (buffer, key) => buffer.writeBigInt64BE(BigInt(key))),
  uuid: (key) => Buffer.from(key.replaceAll("-", ""), "hex"),
  text: (key) => key,
  varchar: (key) => key,
};

/**
 * Turns a key in its text form (`key::text`) into the COPY field of its column type (`typname` from
 * the catalog: `int2`, `int4`, `int8`, `uuid`, `text`, `varchar`), or `undefined` for other types,
 * which a store then writes another way.
 *
 * @example
 * ```ts
 * binaryKeyEncoder("int4")?.("42"); // <Buffer 00 00 00 2a>
 * ```
 */
export function binaryKeyEncoder(typname: string): ((key: string) => CopyField) | undefined {
  return Object.hasOwn(KEY_ENCODERS, typname) ? KEY_ENCODERS[typname] : undefined;
}

/** Column types whose binary form is plain UTF-8, as strings are sent in {@link copyFile}. */
export const TEXT_TYPES: ReadonlySet<string> = new Set(["text", "varchar"]);
