/**
 * A first-fit allocator over a WebAssembly memory: 16-byte aligned blocks, freed blocks merged
 * with their neighbours, the memory grown when nothing fits. Owners free what they allocate
 * (a relaxation its arrays at the end, an optimizer its moments on dispose), so a long run reuses
 * the same bytes batch after batch instead of growing.
 */
export class Heap {
  /** Free blocks, sorted by address: [offset, bytes]. */
  private readonly holes: [number, number][] = [];
  private readonly sizes = new Map<number, number>();
  private top = 16; // offset 0 stays unused: a 0 pointer means "none"

  constructor(private readonly memory: { buffer: ArrayBufferLike; grow(pages: number): number }) {}

  /** `bytes` (rounded up to 16) of zeros; returns the byte offset. */
  alloc(bytes: number): number {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    let ptr = -1;
    const at = this.holes.findIndex(([, b]) => b >= size);
    if (at >= 0) {
      const [p, b] = this.holes[at];
      ptr = p;
      if (b === size) this.holes.splice(at, 1);
      else this.holes[at] = [p + size, b - size];
    } else {
      ptr = this.top;
      this.top += size;
      const have = this.memory.buffer.byteLength;
      if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / 65536));
    }
    this.sizes.set(ptr, size);
    new Uint8Array(this.memory.buffer, ptr, size).fill(0);
    return ptr;
  }

  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`kernel heap: ${ptr} is not an allocated block`);
    this.sizes.delete(ptr);
    let i = this.holes.findIndex(([p]) => p > ptr);
    if (i < 0) i = this.holes.length;
    this.holes.splice(i, 0, [ptr, size]);
    // merge with the next hole, then with the previous one
    if (i + 1 < this.holes.length && this.holes[i][0] + this.holes[i][1] === this.holes[i + 1][0]) {
      this.holes[i][1] += this.holes[i + 1][1];
      this.holes.splice(i + 1, 1);
    }
    if (i > 0 && this.holes[i - 1][0] + this.holes[i - 1][1] === this.holes[i][0]) {
      this.holes[i - 1][1] += this.holes[i][1];
      this.holes.splice(i, 1);
      i--;
    }
    // a hole that reaches the top gives its bytes back to it
    const last = this.holes[this.holes.length - 1];
    if (last && last[0] + last[1] === this.top) {
      this.top = last[0];
      this.holes.pop();
    }
  }

  /** Bytes in use (allocated blocks), for leak checks. */
  get used(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }
}
