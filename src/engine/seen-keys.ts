/**
 * The set of keys read so far in a snapshot run, kept as 64-bit digests in an open-addressing table: about
 * 16 bytes per key, so a million-row snapshot costs ~16 MB instead of a Set of strings. It answers two
 * questions: "was this key already read in this run?" (a duplicate) and, at the end, "which stored keys
 * were not read?" (deletes). A digest collision (odds ~1e-8 at ten million keys) can only make Ferry
 * reject a row as a duplicate, with that reason in the report, or keep a record it should delete: never
 * delete or overwrite one.
 */
import { hash } from "node:crypto";

export class SeenKeys {
  #table = new Uint32Array(2 * 1024);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  static #digest(key: string): [number, number] {
    const d = hash("sha1", key, "buffer");
    // 0 marks an empty slot; a digest whose high word is 0 is moved to 1.
    return [d.readUInt32LE(0) || 1, d.readUInt32LE(4)];
  }

  /** Adds the key; returns false when it was already there. */
  add(key: string): boolean {
    const [hi, lo] = SeenKeys.#digest(key);
    if ((this.#size + 1) * 2 > this.#table.length / 2) this.#grow();
    return this.#insert(hi, lo);
  }

  has(key: string): boolean {
    const [hi, lo] = SeenKeys.#digest(key);
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
