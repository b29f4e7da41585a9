/** A bounded least-recently-used map from input hash to vector, for texts repeated in one run. */
export class VectorCache {
  private readonly entries = new Map<string, Float32Array>();

  constructor(private readonly capacity: number) {}

  get(hash: string): Float32Array | undefined {
    const vector = this.entries.get(hash);
    if (vector) {
      this.entries.delete(hash);
      this.entries.set(hash, vector);
    }
    return vector;
  }

  set(hash: string, vector: Float32Array): void {
    if (this.capacity <= 0) return;
    this.entries.delete(hash);
    this.entries.set(hash, vector);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
