// Deterministic bytes of any length, produced on demand: the download endpoint streams hundreds of MiB through the
// edge without either side holding them, and a test recomputes the same bytes to check what arrived.
// Each 64 KiB block starts with its own index, so a block lost, repeated or reordered on the way changes the hash.
import { Readable } from 'node:stream';

export const BLOB_BLOCK_SIZE = 64 * 1024;

const PATTERN = (() => {
  const block = Buffer.allocUnsafe(BLOB_BLOCK_SIZE);
  for (let i = 0; i < BLOB_BLOCK_SIZE; i += 1) block[i] = (i * 31 + (i >>> 8) * 7) & 0xff;
  return block;
})();

/** Block `index` of every blob: `blob-block:<index, 11 digits>\n` followed by a fixed pattern. */
export function blobBlock(index: number): Buffer {
  const block = Buffer.from(PATTERN);
  block.write(`blob-block:${String(index).padStart(11, '0')}\n`, 0, 'latin1');
  return block;
}

/** A readable of exactly `size` deterministic bytes that only makes a block when the consumer asks for one. */
export function createBlobStream(size: number): Readable {
  let offset = 0;
  return new Readable({
    highWaterMark: BLOB_BLOCK_SIZE,
    read() {
      if (offset >= size) {
        this.push(null);
        return;
      }
      const index = Math.floor(offset / BLOB_BLOCK_SIZE);
      const length = Math.min(BLOB_BLOCK_SIZE, size - offset);
      offset += length;
      const block = blobBlock(index);
      this.push(length === BLOB_BLOCK_SIZE ? block : block.subarray(0, length));
    },
  });
}
