import { createHash } from "node:crypto";

/**
 * Hex SHA-256 of `text` (UTF-8): the input hash stored beside every vector, so a changed text makes
 * its row stale.
 */
export function hashText(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
