import { openAsBlob } from "node:fs";
import { type FileHandle, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A batch's JSONL request file, written to a temporary file line by line as the batch is planned,
 * and uploaded from disk: a file of up to hundreds of MB is never held in memory.
 */
export class RequestFile {
  private bytesWritten = 0;
  private linesWritten = 0;

  private constructor(
    private readonly dir: string,
    private readonly path: string,
    private handle: FileHandle | undefined,
  ) {}

  static async create(name: string): Promise<RequestFile> {
    const dir = await mkdtemp(join(tmpdir(), "relay-embeddings-batch-"));
    const path = join(dir, name);
    return new RequestFile(dir, path, await open(path, "w"));
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.bytesWritten;
  }

  /** Lines written so far. */
  get lines(): number {
    return this.linesWritten;
  }

  /** Appends one line (its newline added). */
  async append(line: string): Promise<void> {
    const data = `${line}\n`;
    await this.handle!.write(data);
    this.bytesWritten += Buffer.byteLength(data);
    this.linesWritten++;
  }

  /** The finished file, read from disk when it is sent. */
  async blob(): Promise<Blob> {
    await this.close();
    return openAsBlob(this.path, { type: "application/jsonl" });
  }

  /** Deletes the temporary file. */
  async dispose(): Promise<void> {
    await this.close().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }

  private async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}
