/* The emulator of `bench/trace.ts`, in a process of its own (started with `fork()`; not run by hand). */
import { createEmbeddingsEmulator } from "../src/testing/index.js";
import { LATENCY, SHAPES, type ShapeName, TIERS, type TierName } from "./scenarios.js";

export interface TraceCall {
  /** When the emulator admitted or refused it (ms since 1970). */
  readonly at: number;
  readonly tokens: number;
  readonly status: number | null;
}

export type TraceMessage =
  | { readonly type: "ready"; readonly voyageBaseUrl: string }
  | { readonly type: "calls"; readonly calls: TraceCall[] };

const [shape, tier] = process.argv.slice(2);
// The limits and their enforcement exactly as `npm run bench` sets them.
const emulator = createEmbeddingsEmulator({
  latency: LATENCY,
  rateLimits: { ...TIERS[Number(tier) as TierName], ...SHAPES[shape as ShapeName] },
  maxRecordedCalls: 1_000_000,
});
const server = await emulator.listen();
const send = (message: TraceMessage) => process.send!(message);
send({ type: "ready", voyageBaseUrl: server.voyageBaseUrl });
process.on("message", async (message) => {
  if (message !== "calls") return;
  send({
    type: "calls",
    calls: emulator.calls.map((c) => ({ at: c.timestamp, tokens: c.tokens, status: c.status })),
  });
  await server.close();
  process.disconnect();
});
