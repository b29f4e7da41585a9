/*
 * The PostgreSQL kit (@relay/embeddings/postgres). Its binary encodings, read back by an independent
 * decoder written from PostgreSQL's documented formats, and its SQL fragments; then, on every driver,
 * in one database per driver: its sessions (sessions.ts), its store helpers (store-helpers.ts) and a
 * second store written on it alone (second-store.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  binaryKeyEncoder,
  copyFile,
  fragmentQuery,
  joinFragments,
  qualifiedName,
  rawFragment,
  sqlFragment,
  tableName,
  textArray,
  vectorArray,
  vectorText,
} from "../../src/postgres/index.js";
import { describeEachDatabase, type TestDatabase } from "../support/index.js";
import { secondStoreTests } from "./second-store.js";
import { sessionTests } from "./sessions.js";
import { storeHelperTests } from "./store-helpers.js";

/** Decodes a binary COPY file: rows of fields (Buffer, or null for NULL). */
function readCopyFile(file: Buffer): (Buffer | null)[][] {
  expect(file.subarray(0, 11).toString("latin1")).toBe("PGCOPY\n\xff\r\n\0");
  expect(file.readInt32BE(11)).toBe(0); // flags
  let at = 15 + 4 + file.readInt32BE(15); // header extension
  const rows: (Buffer | null)[][] = [];
  for (;;) {
    const count = file.readInt16BE(at);
    at += 2;
    if (count === -1) break;
    const row: (Buffer | null)[] = [];
    for (let i = 0; i < count; i++) {
      const length = file.readInt32BE(at);
      at += 4;
      row.push(length === -1 ? null : file.subarray(at, at + length));
      if (length > 0) at += length;
    }
    rows.push(row);
  }
  expect(at).toBe(file.length);
  return rows;
}

function readVector(bytes: Buffer): number[] {
  const dimensions = bytes.readInt16BE(0);
  expect(bytes.readInt16BE(2)).toBe(0);
  expect(bytes.length).toBe(4 + 4 * dimensions);
  return Array.from({ length: dimensions }, (_, i) => bytes.readFloatBE(4 + 4 * i));
}

describe("binary encodings", () => {
  it("copyFile() writes PostgreSQL's binary COPY format: texts, vectors, raw bytes and NULLs", () => {
    const vector = Float32Array.of(1.5, -2.25, 3e-8);
    const key = binaryKeyEncoder("int8")!("-9007199254740993") as Buffer;
    const rows = readCopyFile(
      copyFile([
        [key, vector, "naïve 🚀", null],
        ["", null, "x", vector],
      ]),
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]![0]!.readBigInt64BE(0)).toBe(-9_007_199_254_740_993n);
    expect(readVector(rows[0]![1]!)).toEqual([...vector]);
    expect(rows[0]![2]!.toString("utf8")).toBe("naïve 🚀");
    expect(rows[0]![3]).toBeNull();
    expect(rows[1]![0]!.length).toBe(0);
    expect(rows[1]![1]).toBeNull();
  });

  it("vectorArray() and textArray() write PostgreSQL's binary array format", () => {
    const vectors = [Float32Array.of(1, 2), Float32Array.of(-3, 0.5)];
    const array = vectorArray(12345, vectors);
    expect([array.readInt32BE(0), array.readInt32BE(4), array.readUInt32BE(8)]).toEqual([1, 0, 12345]);
    expect([array.readInt32BE(12), array.readInt32BE(16)]).toEqual([2, 1]);
    expect(readVector(array.subarray(24, 24 + array.readInt32BE(20)))).toEqual([1, 2]);
    const texts = textArray(["a", "ü"]);
    expect(texts.readUInt32BE(8)).toBe(25); // text
    expect(texts.subarray(24, 25).toString()).toBe("a");
    expect(texts.readInt32BE(25)).toBe(2); // "ü" is two UTF-8 bytes
  });

  it("binaryKeyEncoder() knows the key types COPY can take, and only those", () => {
    expect(binaryKeyEncoder("int2")!("-2")).toEqual(Buffer.from([0xff, 0xfe]));
    expect(binaryKeyEncoder("int4")!("42")).toEqual(Buffer.from([0, 0, 0, 42]));
    expect(binaryKeyEncoder("uuid")!("00000000-0000-4000-8000-0000000000ff")).toEqual(
      Buffer.from("000000000000400080000000000000ff", "hex"),
    );
    expect(binaryKeyEncoder("varchar")!("k")).toBe("k");
    expect(binaryKeyEncoder("numeric")).toBeUndefined();
    expect(binaryKeyEncoder("constructor")).toBeUndefined();
    expect(vectorText(Float32Array.of(1, 0.5))).toBe("[1,0.5]");
  });
});

describe("SQL fragments", () => {
  it("keep values bound and number them where they end up", () => {
    const where = sqlFragment`id = ${7} and name = ${"o'brien"}`;
    const list = joinFragments([sqlFragment`(${1})`, rawFragment("(2)"), sqlFragment`(${3})`], ", ");
    const statement = joinFragments(
      [rawFragment("select * from t where "), where, sqlFragment` or id in (values ${0})`],
      "",
    );
    expect(fragmentQuery(where)).toEqual({ text: "id = $1 and name = $2", params: [7, "o'brien"] });
    expect(fragmentQuery(list, 3)).toEqual({ text: "($3), (2), ($4)", params: [1, 3] });
    expect(fragmentQuery(statement)).toEqual({
      text: "select * from t where id = $1 and name = $2 or id in (values $3)",
      params: [7, "o'brien", 0],
    });
  });

  it("name tables for statements and messages", () => {
    expect(tableName("skill_embeddings")).toEqual({
      schema: undefined,
      name: "skill_embeddings",
      display: "skill_embeddings",
    });
    expect(tableName('we"ird', "app").display).toBe('app.we"ird');
    expect(qualifiedName(tableName('we"ird', "app"))).toBe('"app"."we""ird"');
  });
});

describeEachDatabase("PostgreSQL kit", (database) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await database.create();
  });
  afterAll(() => t?.close());

  describe("sessions", () => sessionTests(database, () => t));
  describe("store helpers", () => storeHelperTests(database, () => t));
  describe("a second store built on the kit", () => secondStoreTests(() => t));
});
