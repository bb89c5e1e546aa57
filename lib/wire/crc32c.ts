// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the wire format
// (docs/wire-format.md). Pure TypeScript, table driven, slicing-by-8: eight 256-entry tables, eight
// bytes per step. Where the platform is little-endian and the data is 4-byte aligned, the eight
// bytes are read as two 32-bit words through a Uint32Array, which is what makes it fast in V8.
//
// crc32c(data) is the standard CRC-32C (init 0xFFFFFFFF, final xor 0xFFFFFFFF): crc32c("123456789")
// === 0xE3069283. Pass the previous result as `crc` to continue a running checksum:
// crc32c(b, crc32c(a)) === crc32c(a ++ b).

const POLY = 0x82f63b78;

/** t[k * 256 + n]: the CRC register after byte n followed by k zero bytes (k = 0..7). */
const T = makeTable();

function makeTable(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function asBytes(data: ArrayBufferView | ArrayBuffer): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * CRC32C of `data` (any typed array, DataView, Buffer or ArrayBuffer: its bytes as laid out in memory).
 * `crc` continues a previous result (default 0, the empty message). Returns an unsigned 32-bit number.
 */
export function crc32c(data: ArrayBufferView | ArrayBuffer, crc = 0): number {
  const b = asBytes(data);
  return crc32cRange(b, 0, b.length, crc);
}

/** Short inputs are cheaper byte at a time than through a Uint32Array view (an allocation). */
const WORD_PATH_MIN = 64;

/** CRC32C of b[start, end) without creating a subarray (start/end are clamped to b). */
export function crc32cRange(b: Uint8Array, start: number, end: number, crc = 0): number {
  const t = T;
  let c = ~crc | 0;
  let i = Math.max(0, start | 0);
  const n = Math.min(b.length, end | 0);

  if (n - i >= WORD_PATH_MIN) {
    // Byte at a time until the absolute position is 4-aligned (so the word loop can use a Uint32Array).
    const head = i + ((4 - ((b.byteOffset + i) & 3)) & 3);
    for (; i < head; i++) c = t[(c ^ b[i]) & 0xff] ^ (c >>> 8);

    const words = (n - i) >>> 3;
    if (LITTLE_ENDIAN) {
      const w = new Uint32Array(b.buffer, b.byteOffset + i, words * 2);
      const m = words * 2;
      for (let j = 0; j < m; j += 2) {
        const lo = c ^ w[j];
        const hi = w[j + 1];
        c = t[1792 + (lo & 0xff)] ^ t[1536 + ((lo >>> 8) & 0xff)] ^ t[1280 + ((lo >>> 16) & 0xff)] ^ t[1024 + (lo >>> 24)] ^
          t[768 + (hi & 0xff)] ^ t[512 + ((hi >>> 8) & 0xff)] ^ t[256 + ((hi >>> 16) & 0xff)] ^ t[hi >>> 24];
      }
      i += words * 8;
    }
  }

  // Slicing-by-8 with byte reads (short inputs, big-endian hosts), then the tail byte at a time.
  for (const end8 = i + ((n - i) & ~7); i < end8; i += 8) {
    const lo = c ^ (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
    const hi = b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16) | (b[i + 7] << 24);
    c = t[1792 + (lo & 0xff)] ^ t[1536 + ((lo >>> 8) & 0xff)] ^ t[1280 + ((lo >>> 16) & 0xff)] ^ t[1024 + (lo >>> 24)] ^
      t[768 + (hi & 0xff)] ^ t[512 + ((hi >>> 8) & 0xff)] ^ t[256 + ((hi >>> 16) & 0xff)] ^ t[hi >>> 24];
  }
  for (; i < n; i++) c = t[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
