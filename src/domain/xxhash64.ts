/**
 * XXH64 (Yann Collet's xxHash, 64-bit variant, seed 0) of a string's UTF-8 bytes. Pure.
 *
 * Why this hash: the distinct sketch (distinct-sketch.ts) needs 64 well-mixed bits per value, the
 * same on every instance and every version, computed for every distinct value of every event.
 * XXH64 is a well-known non-cryptographic hash with a published reference implementation (the
 * unit test checks our output against vectors produced by the system's libxxhash). SHA-256 from
 * node:crypto would do too, but costs several times more per short string (a fresh digest per
 * call), and nothing here needs resistance to deliberate collisions: a client that wanted to
 * make its own distinct count wrong could simply send fewer values.
 *
 * JavaScript numbers hold 53 bits exactly, so 64-bit words are kept as two unsigned 32-bit
 * halves; multiplication goes through 16-bit limbs (every partial product stays below 2^53).
 */

/** A 64-bit unsigned word as two unsigned 32-bit halves. */
export interface Word64 {
  hi: number;
  lo: number;
}

const PRIME1: Word64 = { hi: 0x9e3779b1, lo: 0x85ebca87 };
const PRIME2: Word64 = { hi: 0xc2b2ae3d, lo: 0x27d4eb4f };
const PRIME3: Word64 = { hi: 0x165667b1, lo: 0x9e3779f9 };
const PRIME4: Word64 = { hi: 0x85ebca77, lo: 0xc2b2ae63 };
const PRIME5: Word64 = { hi: 0x27d4eb2f, lo: 0x165667c5 };

function add(a: Word64, b: Word64): Word64 {
  const lo = a.lo + b.lo;
  const carry = lo > 0xffffffff ? 1 : 0;
  return { hi: (a.hi + b.hi + carry) >>> 0, lo: lo >>> 0 };
}

function subtract(a: Word64, b: Word64): Word64 {
  // a - b = a + (two's complement of b)
  const negatedLo = (~b.lo + 1) >>> 0;
  const negatedHi = (~b.hi + (negatedLo === 0 ? 1 : 0)) >>> 0;
  return add(a, { hi: negatedHi, lo: negatedLo });
}

/** a × b modulo 2^64, limb by limb (16 bits each), as Long.js does. */
function multiply(a: Word64, b: Word64): Word64 {
  const a48 = a.hi >>> 16;
  const a32 = a.hi & 0xffff;
  const a16 = a.lo >>> 16;
  const a00 = a.lo & 0xffff;
  const b48 = b.hi >>> 16;
  const b32 = b.hi & 0xffff;
  const b16 = b.lo >>> 16;
  const b00 = b.lo & 0xffff;
  let c00 = a00 * b00;
  let c16 = c00 >>> 16;
  c00 &= 0xffff;
  c16 += a16 * b00;
  let c32 = Math.floor(c16 / 0x10000);
  c16 &= 0xffff;
  c16 += a00 * b16;
  c32 += Math.floor(c16 / 0x10000);
  c16 &= 0xffff;
  c32 += a32 * b00;
  let c48 = Math.floor(c32 / 0x10000);
  c32 &= 0xffff;
  c32 += a16 * b16;
  c48 += Math.floor(c32 / 0x10000);
  c32 &= 0xffff;
  c32 += a00 * b32;
  c48 += Math.floor(c32 / 0x10000);
  c32 &= 0xffff;
  c48 += a48 * b00 + a32 * b16 + a16 * b32 + a00 * b48;
  c48 &= 0xffff;
  return { hi: ((c48 << 16) | c32) >>> 0, lo: ((c16 << 16) | c00) >>> 0 };
}

function xor(a: Word64, b: Word64): Word64 {
  return { hi: (a.hi ^ b.hi) >>> 0, lo: (a.lo ^ b.lo) >>> 0 };
}

/** Rotates left by `bits`, 0 < bits < 32 (the only rotations XXH64 uses). */
function rotateLeft(a: Word64, bits: number): Word64 {
  return { hi: ((a.hi << bits) | (a.lo >>> (32 - bits))) >>> 0, lo: ((a.lo << bits) | (a.hi >>> (32 - bits))) >>> 0 };
}

/** a ^ (a >>> bits), 0 < bits < 64. */
function xorShiftRight(a: Word64, bits: number): Word64 {
  const shifted =
    bits >= 32 ? { hi: 0, lo: a.hi >>> (bits - 32) } : { hi: a.hi >>> bits, lo: ((a.lo >>> bits) | (a.hi << (32 - bits))) >>> 0 };
  return xor(a, shifted);
}

function readWord64(bytes: Uint8Array, at: number): Word64 {
  return { hi: readWord32(bytes, at + 4), lo: readWord32(bytes, at) };
}

function readWord32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function round(accumulator: Word64, lane: Word64): Word64 {
  return multiply(rotateLeft(add(accumulator, multiply(lane, PRIME2)), 31), PRIME1);
}

function mergeRound(accumulator: Word64, lane: Word64): Word64 {
  return add(multiply(xor(accumulator, round({ hi: 0, lo: 0 }, lane)), PRIME1), PRIME4);
}

/** XXH64 of `bytes` with seed 0. */
export function xxhash64(bytes: Uint8Array): Word64 {
  const length = bytes.length;
  let at = 0;
  let hash: Word64;
  if (length >= 32) {
    // Four accumulators over 32-byte stripes (seed 0).
    let v1 = add(PRIME1, PRIME2);
    let v2 = PRIME2;
    let v3: Word64 = { hi: 0, lo: 0 };
    let v4 = subtract({ hi: 0, lo: 0 }, PRIME1);
    for (; at + 32 <= length; at += 32) {
      v1 = round(v1, readWord64(bytes, at));
      v2 = round(v2, readWord64(bytes, at + 8));
      v3 = round(v3, readWord64(bytes, at + 16));
      v4 = round(v4, readWord64(bytes, at + 24));
    }
    hash = add(add(rotateLeft(v1, 1), rotateLeft(v2, 7)), add(rotateLeft(v3, 12), rotateLeft(v4, 18)));
    hash = mergeRound(mergeRound(mergeRound(mergeRound(hash, v1), v2), v3), v4);
  } else {
    hash = PRIME5;
  }
  hash = add(hash, { hi: Math.floor(length / 0x100000000), lo: length >>> 0 });
  for (; at + 8 <= length; at += 8) {
    hash = xor(hash, round({ hi: 0, lo: 0 }, readWord64(bytes, at)));
    hash = add(multiply(rotateLeft(hash, 27), PRIME1), PRIME4);
  }
  if (at + 4 <= length) {
    hash = xor(hash, multiply({ hi: 0, lo: readWord32(bytes, at) }, PRIME1));
    hash = add(multiply(rotateLeft(hash, 23), PRIME2), PRIME3);
    at += 4;
  }
  for (; at < length; at++) {
    hash = xor(hash, multiply({ hi: 0, lo: bytes[at]! }, PRIME5));
    hash = multiply(rotateLeft(hash, 11), PRIME1);
  }
  // Avalanche: every input bit affects every output bit.
  hash = multiply(xorShiftRight(hash, 33), PRIME2);
  hash = multiply(xorShiftRight(hash, 29), PRIME3);
  return xorShiftRight(hash, 32);
}

const utf8 = new TextEncoder();
/**
 * Reused for the UTF-8 bytes of short texts: `TextEncoder.encode` allocates an array per call,
 * which measured as most of the cost of hashing a short id. A UTF-16 code unit takes at most 3
 * UTF-8 bytes, so a text of up to 1,365 units fits in 4 KiB.
 */
const scratch = new Uint8Array(4096);

/** XXH64 of the UTF-8 encoding of `text` (well-formed: ingest refuses lone surrogates). */
export function xxhash64OfText(text: string): Word64 {
  if (text.length * 3 > scratch.length) return xxhash64(utf8.encode(text));
  const { written } = utf8.encodeInto(text, scratch);
  return xxhash64(scratch.subarray(0, written));
}

/** The hash as 16 lowercase hex digits, as `xxhsum` prints it. */
export function word64Hex(word: Word64): string {
  return word.hi.toString(16).padStart(8, '0') + word.lo.toString(16).padStart(8, '0');
}
