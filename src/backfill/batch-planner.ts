/** Limits one batch must respect. */
export interface BatchLimits {
  /** Most items in a batch. */
  readonly maxInputs: number;
  /** Most tokens in a batch. */
  readonly maxTokens: number;
}

/** A planned request: items in scan order, with their token estimate. */
export interface Batch<T> {
  readonly items: readonly T[];
  readonly tokens: number;
}

/**
 * Packs items, in order, into batches that stay within a count limit and a token limit. An item
 * whose own estimate exceeds the token limit travels alone (capped at the limit), so the provider,
 * not the estimate, has the last word on whether it fits. The limits may change as the run goes
 * (give a function): each item is checked against the limits of the moment it is added.
 */
export class BatchPlanner<T> {
  private items: T[] = [];
  private openTokens = 0;
  private readonly currentLimits: () => BatchLimits;

  constructor(limits: BatchLimits | (() => BatchLimits)) {
    this.currentLimits = typeof limits === "function" ? limits : () => limits;
  }

  /**
   * Adds an item; returns the batches it closed (none, the previous one when the item would overflow
   * it, and/or the new one when it reached the count limit).
   */
  add(item: T, tokens: number): Batch<T>[] {
    const limits = this.currentLimits();
    const cost = Math.min(tokens, limits.maxTokens);
    const closed: Batch<T>[] = [];
    if (this.items.length > 0 && this.openTokens + cost > limits.maxTokens) closed.push(this.take());
    this.items.push(item);
    this.openTokens += cost;
    if (this.items.length >= limits.maxInputs || this.openTokens >= limits.maxTokens) {
      closed.push(this.take());
    }
    return closed;
  }

  /** Closes the open batch, if any. */
  flush(): Batch<T> | undefined {
    return this.items.length === 0 ? undefined : this.take();
  }

  private take(): Batch<T> {
    const batch = { items: this.items, tokens: this.openTokens };
    this.items = [];
    this.openTokens = 0;
    return batch;
  }

  /** Items waiting in the open batch. */
  get size(): number {
    return this.items.length;
  }

  /** Tokens of the items waiting in the open batch. */
  get tokens(): number {
    return this.openTokens;
  }
}
