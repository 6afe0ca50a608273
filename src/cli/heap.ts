/**
 * How Ferry's process sizes its heap. A sync allocates a page of rows at a time and keeps almost nothing:
 * left to itself, V8 lets the old generation grow by up to 4x between full collections, so peak memory
 * would climb with the length of a run (a 1M-row read peaked 45% above a 100k-row one) although the live
 * heap stays near 50 MB. Growing it by at most 1.5x keeps peak memory flat whatever the table's size, for
 * a few percent more time in the collector. V8 reads this flag at each collection, so setting it at start-up
 * works; the young generation's size, read only when the heap is created, is set by bin/ferry.js.
 */
import v8 from "node:v8";

v8.setFlagsFromString("--heap-growing-percent=50");
