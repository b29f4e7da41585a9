/**
 * Runs operations one at a time. A store bound to a transaction (or to a single node-postgres
 * Client) has one connection: two writes at once would interleave their savepoints and statements
 * on it, and postgres.js refuses any query while a COPY is in progress.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** For stores with a pool behind them: everything runs at once. */
export const concurrent: Pick<Serial, "run"> = { run: (work) => work() };
