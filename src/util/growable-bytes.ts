/** An append-only byte buffer that doubles as it grows: one allocation per doubling, no per-item objects. */
export class GrowableBytes {
  private buf: Uint8Array;
  private length = 0;

  constructor(initial = 1 << 16) {
    this.buf = new Uint8Array(initial);
  }

  append(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + bytes.length) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** The bytes appended so far (a view, valid until the next append). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}
