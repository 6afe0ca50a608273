/**
 * The set of keys read so far in a snapshot run, kept as 64-bit digests in an open-addressing table: about
 * 16 bytes per key, so a million-row snapshot costs ~16 MB instead of a Set of strings. It answers two
 * questions: "was this key already read in this run?" (a duplicate) and, at the end, "which stored keys
 * were not read?" (deletes). A digest collision (odds ~3e-6 at ten million keys) can only make Ferry
 * reject a row as a duplicate, with that reason in the report, or keep a record it should delete: never
 * delete or overwrite one.
 */

/** murmur3's 32-bit finalizer: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class SeenKeys {
  #table = new Uint32Array(2 * 1024);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  // The digest of the last key, in two words: computed in place, as allocating a pair per key costs more.
  #hi = 0;
  #lo = 0;

  /**
   * A 64-bit digest from two independent 32-bit hashes of the key's UTF-16 code units (FNV-1a, and a
   * murmur2-style multiply-xorshift), each finished with murmur3's finalizer. Not cryptographic, and it
   * need not be: keys come from the source being read, and a collision only costs what is said above.
   * A cryptographic digest cost more than all the rest of the set's work.
   */
  #digest(key: string): void {
    let a = 0x811c9dc5;
    let b = 0x9e3779b9;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    // 0 marks an empty slot; a digest whose high word is 0 is moved to 1.
    this.#hi = fmix32(a ^ key.length) || 1;
    this.#lo = fmix32(b ^ key.length);
  }

  /** Adds the key; returns false when it was already there. */
  add(key: string): boolean {
    this.#digest(key);
    if ((this.#size + 1) * 2 > this.#table.length / 2) this.#grow();
    return this.#insert(this.#hi, this.#lo);
  }

  has(key: string): boolean {
    this.#digest(key);
    const hi = this.#hi;
    const lo = this.#lo;
    const t = this.#table;
    const slots = t.length / 2;
    let i = (lo % slots) * 2;
    for (;;) {
      if (t[i] === 0) return false;
      if (t[i] === hi && t[i + 1] === lo) return true;
      i = (i + 2) % t.length;
    }
  }

  #insert(hi: number, lo: number): boolean {
    const t = this.#table;
    const slots = t.length / 2;
    let i = (lo % slots) * 2;
    for (;;) {
      if (t[i] === 0) {
        t[i] = hi;
        t[i + 1] = lo;
        this.#size++;
        return true;
      }
      if (t[i] === hi && t[i + 1] === lo) return false;
      i = (i + 2) % t.length;
    }
  }

  #grow(): void {
    const old = this.#table;
    this.#table = new Uint32Array(old.length * 2);
    this.#size = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.#insert(old[i]!, old[i + 1]!);
  }
}
