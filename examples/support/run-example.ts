/*
 * Runs an example as its own process, the way a user runs it, for `npm run examples` and the tests.
 * The environment is pinned: no DATABASE_URL, no API keys, no base URLs (so the embedded database
 * and the emulator are used) unless the caller sets them, and .env.local cannot override that
 * (dotenv never replaces a variable that is already set, even to "").
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The variables an example reads; each defaults to "" (unset) in a run. */
const PINNED = ["DATABASE_URL", "VOYAGE_API_KEY", "VOYAGE_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"];

export interface ExampleRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** stdout and stderr, interleaved as they arrived. */
  readonly output: string;
  readonly durationMs: number;
}

export interface RunExampleOptions {
  /** `EXAMPLES_DATA_DIR`: where the embedded databases live. */
  readonly dataDir: string;
  /** Command-line arguments (e.g. `--seed`). */
  readonly args?: readonly string[];
  /** More environment (e.g. `VOYAGE_API_KEY`, `VOYAGE_BASE_URL`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Also copy the output to this process's stdout as it comes. */
  readonly echo?: boolean;
  /** Kills the run after this long (a hang catcher: a loaded 2-core machine can take a minute). Default 150 s. */
  readonly timeoutMs?: number;
}

/** Runs `examples/<script>` with tsx (tsconfig `paths` resolve `@relay/embeddings` to the sources). */
export function runExample(script: string, options: RunExampleOptions): Promise<ExampleRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, EXAMPLES_DATA_DIR: options.dataDir };
  for (const name of PINNED) env[name] = "";
  Object.assign(env, options.env);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", `examples/${script}`, ...(options.args ?? [])],
      {
        cwd: REPO_ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe"],
        timeout: options.timeoutMs ?? 150_000,
      },
    );
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (options.echo) process.stdout.write(chunk);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, output, durationMs: Date.now() - started }));
  });
}
