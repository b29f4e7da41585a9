/*
 * The emulator's Files and Batches endpoints through both transports (MSW and the loopback server),
 * driven by both providers' batch capability: upload, create, poll, stream the output, delete; the
 * turnaround, a failed line with its reason, finding an unrecorded upload and batch again, and the
 * cost counter (tokens at the batch price).
 */
import { describe, expect, it } from "vitest";
import type { BatchEmbeddingApi, BatchOutputLine, EmbeddingProvider } from "../../src/index.js";
import { deterministicEmbedding, emulatorTokenCount } from "../../src/testing/index.js";
import { DIMENSIONS, openai, type Transport, useEmulator, voyage } from "../reliability/harness.js";

async function collect(lines: AsyncIterable<BatchOutputLine>): Promise<BatchOutputLine[]> {
  const out: BatchOutputLine[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

async function upload(batch: BatchEmbeddingApi, lines: string[], name: string): Promise<string> {
  return batch.uploadFile(new Blob(lines.map((line) => `${line}\n`)), { name });
}

for (const transport of ["msw", "loopback"] as const satisfies readonly Transport[]) {
  describe(`emulator batches [${transport}]`, () => {
    const h = useEmulator(transport);
    const providers: Record<string, () => EmbeddingProvider> = {
      voyage: () => voyage(h.voyageBaseURL),
      openai: () => openai(h.openaiBaseURL),
    };

    for (const [name, make] of Object.entries(providers)) {
      it(`${name}: upload, create, poll, stream the output, delete; billed at the batch price`, async () => {
        const provider = make();
        const batch = provider.batch!;
        const texts = [["alpha beta", "gamma"], ["delta"], ["epsilon zeta eta"]];
        const fileId = await upload(
          batch,
          texts.map((t, i) => batch.requestLine(`r${i + 1}`, t, { inputType: "document" })),
          "relay-embeddings-job-1.jsonl",
        );
        expect(await batch.findFile("relay-embeddings-job-1.jsonl")).toBe(fileId);
        expect(await batch.findFile("relay-embeddings-job-2.jsonl")).toBeUndefined();

        h.emulator.injectBatch({ type: "fail_lines", lines: [3], status: 400 });
        const created = await batch.createBatch({ fileId, jobId: "job-1", inputType: "document" });
        expect(created.status).toBe("validating");
        expect((await batch.findBatch("job-1"))?.id).toBe(created.id);
        expect(await batch.findBatch("job-2")).toBeUndefined();

        const done = await batch.getBatch(created.id);
        expect(done).toMatchObject({ status: "completed", counts: { total: 3, completed: 2, failed: 1 } });
        const output = await collect(batch.readFile(done.outputFileId!));
        expect(output.map((line) => line.customId).sort()).toEqual(["r1", "r2"]);
        for (const line of output) {
          const sent = texts[Number(line.customId!.slice(1)) - 1]!;
          expect(line.result!.embeddings.map((v) => Array.from(v))).toEqual(
            sent.map((text) => Array.from(deterministicEmbedding(text, DIMENSIONS))),
          );
        }
        const errors = await collect(batch.readFile(done.errorFileId!));
        expect(errors).toMatchObject([{ customId: "r3", error: { status: 400, reason: "invalid_request" } }]);

        const billed = [...texts[0]!, ...texts[1]!].reduce((sum, t) => sum + emulatorTokenCount(t), 0);
        const ratio = name === "openai" ? 0.5 : 0.67;
        expect(h.emulator.stats.batch).toMatchObject({
          uploads: 1,
          batchesCreated: 1,
          linesCompleted: 2,
          linesFailed: 1,
          tokensBilled: billed,
        });
        expect(h.emulator.stats.batch.cost).toBeCloseTo(billed * ratio);

        for (const id of [fileId, done.outputFileId!, done.errorFileId!]) await batch.deleteFile(id);
        await batch.deleteFile(fileId); // already gone: not an error
        expect(h.emulator.storedFiles).toBe(0);
      });
    }

    it("a batch takes its turnaround; expiry answers the first lines and fails the rest as batch_expired", async () => {
      const batch = voyage(h.voyageBaseURL).batch!;
      const lines = ["one", "two", "three", "four"].map((t, i) => batch.requestLine(`r${i + 1}`, [t], {}));
      h.emulator.injectBatch([{ type: "slow", turnaroundMs: 60_000 }]);
      const slow = await batch.createBatch({
        fileId: await upload(batch, lines, "slow.jsonl"),
        jobId: "slow",
      });
      expect((await batch.getBatch(slow.id)).status).toBe("in_progress");

      h.emulator.injectBatch({ type: "expire", completedLines: 1 });
      const expiring = await batch.createBatch({
        fileId: await upload(batch, lines, "exp.jsonl"),
        jobId: "exp",
      });
      const expired = await batch.getBatch(expiring.id);
      expect(expired).toMatchObject({ status: "expired", counts: { completed: 1, failed: 3 } });
      const errors = await collect(batch.readFile(expired.errorFileId!));
      expect(errors.map((line) => line.error?.code)).toEqual([
        "batch_expired",
        "batch_expired",
        "batch_expired",
      ]);
    });
  });
}
