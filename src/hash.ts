import { createHash } from "node:crypto";

/** Hex SHA-256 of `text` (UTF-8): the input hash stored beside every vector, as in the original plan. */
export function hashText(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
