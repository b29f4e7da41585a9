/*
 * What this machine needs no matter the client: the emulator's own CPU to compute the vectors. The
 * emulator answers one request at a time on one thread (its modelled latency starts after that), so
 * no client can have every vector before the emulator has computed them all.
 */
import { createEmbeddingsEmulator, emulatorTokenCount } from "../src/testing/index.js";
import { type DataOptions, skillRange, skillText } from "./data.js";
import { MODEL } from "./schema.js";

/** Milliseconds the emulator takes to answer the distinct texts, in the largest requests allowed, base64. */
export async function emulatorComputeMs(data: DataOptions): Promise<number> {
  const seen = new Set<string>();
  const texts: string[] = [];
  for (const skill of skillRange(data)) {
    const text = skillText(skill);
    if (!seen.has(text)) {
      seen.add(text);
      texts.push(text);
    }
  }
  // Requests as large as voyage-3.5 takes: 1,000 inputs, 320K tokens.
  const requests: string[][] = [[]];
  let tokens = 0;
  for (const text of texts) {
    const t = emulatorTokenCount(text);
    if (requests.at(-1)!.length === 1_000 || tokens + t > 320_000) {
      requests.push([]);
      tokens = 0;
    }
    requests.at(-1)!.push(text);
    tokens += t;
  }
  const emulator = createEmbeddingsEmulator({ maxRecordedCalls: 0 });
  const started = performance.now();
  for (const input of requests) {
    const body = JSON.stringify({
      input,
      model: MODEL,
      input_type: "document",
      encoding_format: "base64",
    });
    const outcome = await emulator.handle({
      api: "voyage",
      method: "POST",
      url: "http://emulator/voyage/v1/embeddings",
      path: "/v1/embeddings",
      headers: { authorization: "Bearer pa-floor", "content-type": "application/json" },
      body,
    });
    if (outcome.kind !== "response" || outcome.status !== 200)
      throw new Error("emulator floor: request refused");
  }
  return performance.now() - started;
}
