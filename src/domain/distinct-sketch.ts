/**
 * The distinct-count sketch: a HyperLogLog (Flajolet et al. 2007) with 2^14 registers, read with
 * Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog sketches",
 * 2017), which needs no bias tables and no switch to linear counting. Pure.
 *
 * Accuracy: the standard error of HyperLogLog is 1.04/√m = 0.81% for m = 16,384 registers, so
 * the promised bound of 2% relative error is about 2.5 standard errors (about 99 estimates in
 * 100 fall inside it). test/unit/distinct-sketch.test.ts measures it over 1,000,000 values.
 *
 * Every value is hashed with XXH64 (xxhash64.ts) of its UTF-8 bytes, and the top 53 bits of the
 * hash (what a double holds exactly) are the sketch's hash: 14 bits choose the register, and the
 * leading zeros of the other 39 bits give the rank (1 to 40), so 6 bits hold any register.
 *
 * Two forms, one content: a sketch that has seen at most SPARSE_LIMIT different hashes keeps
 * the hashes themselves (sorted), so it counts exactly and stays small (7 bytes per value); past
 * that it turns into registers (12,288 bytes, packed 6 bits each), which is never larger. The
 * form depends only on the set of hashes seen, never on the order of adds and merges, so merging
 * is commutative, associative and idempotent to the byte.
 */
import { xxhash64OfText, type Word64 } from './xxhash64.ts';

/** log2 of the number of registers. */
export const DISTINCT_PRECISION = 14;
const REGISTER_COUNT = 1 << DISTINCT_PRECISION;
/** The hash bits a sketch keeps: exactly representable in a double. */
const HASH_BITS = 53;
/** The bits after the register index, whose leading zeros are the rank. */
const RANK_BITS = HASH_BITS - DISTINCT_PRECISION;
/** The largest rank: all RANK_BITS bits zero. */
const MAX_RANK = RANK_BITS + 1;
/** 2^RANK_BITS: the hash modulo this is the rank part. */
const RANK_SPAN = 2 ** RANK_BITS;
/** Registers packed 6 bits each (MAX_RANK = 40 < 64): four registers in three bytes. */
const DENSE_BYTES = (REGISTER_COUNT * 6) / 8;
/** A sparse hash is 53 bits, stored in 7 bytes. */
const SPARSE_HASH_BYTES = 7;
/**
 * Most hashes the sparse form holds: past this many its 7 bytes each would outgrow the dense
 * registers (12,288 bytes / 7 = 1,755), so the sketch turns dense.
 */
export const SPARSE_LIMIT = Math.floor(DENSE_BYTES / SPARSE_HASH_BYTES);
/** The bound the schema promises, for a million values. */
export const DISTINCT_RELATIVE_ERROR = 0.02;

/** Ertl's α∞ = 1 / (2 ln 2): the limit of the HyperLogLog bias constant for large m. */
const ALPHA_INFINITY = 1 / (2 * Math.log(2));

/** The sketch hash of a value: the top 53 bits of XXH64 of its UTF-8 bytes. */
export function distinctHash(text: string): number {
  return topBits(xxhash64OfText(text));
}

function topBits(hash: Word64): number {
  // hi holds the top 32 bits; the next 21 come from the top of lo.
  return hash.hi * 2 ** 21 + (hash.lo >>> 11);
}

function registerIndex(hash: number): number {
  return Math.floor(hash / RANK_SPAN);
}

/** 1 + the leading zeros of the RANK_BITS bits below the register index. */
function rankOf(hash: number): number {
  const rest = hash % RANK_SPAN;
  if (rest === 0) return MAX_RANK;
  // rest < 2^39: split at 2^32 so Math.clz32 can count.
  const high = Math.floor(rest / 2 ** 32);
  if (high !== 0) return Math.clz32(high) - (32 - (RANK_BITS - 32)) + 1;
  return RANK_BITS - 32 + Math.clz32(rest >>> 0) + 1;
}

export class DistinctSketch {
  /** Sorted distinct hashes in [0, sparseLength) while sparse; null once dense. */
  #sparse: Float64Array | null = new Float64Array(8);
  #sparseLength = 0;
  #registers: Uint8Array | null = null;
  /** The stored text this sketch has not read yet (see fromStored). */
  #stored: string | null = null;

  /**
   * A sketch that reads `text` (encode's output) only when first used: rows read for a query
   * that does not ask for a distinct count never decode their sketches.
   */
  static fromStored(text: string): DistinctSketch {
    const sketch = new DistinctSketch();
    sketch.#stored = text;
    return sketch;
  }

  /** Whether the sketch is still the unread stored text (for tests of what queries decode). */
  get isUnread(): boolean {
    return this.#stored !== null;
  }

  /** Whether the sketch holds its hashes (exact) rather than registers. */
  get isSparse(): boolean {
    this.#read();
    return this.#sparse !== null;
  }

  /** About how many bytes the sketch holds in memory (its registers, hashes or stored text). */
  get memoryBytes(): number {
    if (this.#stored !== null) return this.#stored.length;
    return this.#registers ? this.#registers.byteLength : this.#sparse!.byteLength;
  }

  addText(text: string): void {
    this.addHash(distinctHash(text));
  }

  /** Adds a value by its sketch hash (distinctHash), so a value hashed once can go into several rows. */
  addHash(hash: number): void {
    this.#read();
    if (this.#registers) {
      setRegister(this.#registers, hash);
      return;
    }
    const sparse = this.#sparse!;
    const at = lowerBound(sparse, this.#sparseLength, hash);
    if (at < this.#sparseLength && sparse[at] === hash) return;
    if (this.#sparseLength === SPARSE_LIMIT) {
      this.#turnDense();
      setRegister(this.#registers!, hash);
      return;
    }
    if (this.#sparseLength === sparse.length) {
      const grown = new Float64Array(Math.min(sparse.length * 2, SPARSE_LIMIT));
      grown.set(sparse);
      this.#sparse = grown;
    }
    this.#sparse!.copyWithin(at + 1, at, this.#sparseLength);
    this.#sparse![at] = hash;
    this.#sparseLength += 1;
  }

  /** Makes this sketch the union of itself and `other` (other is not changed). */
  merge(other: DistinctSketch): void {
    this.#read();
    if (other.#stored !== null && this.#isEmpty()) {
      // Copying unread text costs nothing, and the copy may never be read either.
      this.#stored = other.#stored;
      return;
    }
    other.#read();
    if (other.#registers) {
      if (!this.#registers) this.#turnDense();
      const into = this.#registers!;
      const from = other.#registers;
      for (let i = 0; i < REGISTER_COUNT; i++) if (from[i]! > into[i]!) into[i] = from[i]!;
      return;
    }
    if (this.#registers) {
      for (let i = 0; i < other.#sparseLength; i++) setRegister(this.#registers, other.#sparse![i]!);
      return;
    }
    this.#mergeSparse(other.#sparse!, other.#sparseLength);
  }

  /** The number of different values added: exact while sparse, within the stated error after. */
  estimate(): number {
    this.#read();
    if (!this.#registers) return this.#sparseLength;
    return Math.round(estimateFromRegisters(this.#registers));
  }

  clone(): DistinctSketch {
    const copy = new DistinctSketch();
    copy.merge(this);
    return copy;
  }

  /**
   * The storage form: "S" and the base64 of the sorted hashes, 7 bytes each (big-endian), or "D"
   * and the base64 of the registers, 6 bits each. The precision is part of the format: a
   * sketch of another precision would need a new letter.
   */
  encode(): string {
    if (this.#stored !== null) return this.#stored;
    if (this.#registers) return `D${packRegisters(this.#registers).toString('base64')}`;
    const bytes = Buffer.alloc(this.#sparseLength * SPARSE_HASH_BYTES);
    for (let i = 0; i < this.#sparseLength; i++) {
      const hash = this.#sparse![i]!;
      const high = Math.floor(hash / 2 ** 32);
      bytes.writeUIntBE(high, i * SPARSE_HASH_BYTES, 3);
      bytes.writeUInt32BE(hash % 2 ** 32, i * SPARSE_HASH_BYTES + 3);
    }
    return `S${bytes.toString('base64')}`;
  }

  #isEmpty(): boolean {
    return this.#registers === null && this.#sparseLength === 0 && this.#stored === null;
  }

  #read(): void {
    const text = this.#stored;
    if (text === null) return;
    this.#stored = null;
    const bytes = Buffer.from(text.slice(1), 'base64');
    if (text[0] === 'D') {
      if (bytes.length !== DENSE_BYTES) throw new Error(`a dense distinct sketch holds ${DENSE_BYTES} bytes, not ${bytes.length}`);
      this.#registers = unpackRegisters(bytes);
      this.#sparse = null;
      this.#sparseLength = 0;
      return;
    }
    if (text[0] !== 'S' || bytes.length % SPARSE_HASH_BYTES !== 0 || bytes.length / SPARSE_HASH_BYTES > SPARSE_LIMIT) {
      throw new Error('a stored distinct sketch is neither sparse ("S") nor dense ("D") of the expected size');
    }
    const length = bytes.length / SPARSE_HASH_BYTES;
    const hashes = new Float64Array(Math.max(length, 8));
    for (let i = 0; i < length; i++) {
      hashes[i] = bytes.readUIntBE(i * SPARSE_HASH_BYTES, 3) * 2 ** 32 + bytes.readUInt32BE(i * SPARSE_HASH_BYTES + 3);
      if (i > 0 && !(hashes[i]! > hashes[i - 1]!)) throw new Error('a stored sparse distinct sketch is not sorted');
    }
    this.#sparse = hashes;
    this.#sparseLength = length;
    this.#registers = null;
  }

  #turnDense(): void {
    const registers = new Uint8Array(REGISTER_COUNT);
    for (let i = 0; i < this.#sparseLength; i++) setRegister(registers, this.#sparse![i]!);
    this.#registers = registers;
    this.#sparse = null;
    this.#sparseLength = 0;
  }

  /** The sorted union of two sorted hash lists; dense when it outgrows SPARSE_LIMIT. */
  #mergeSparse(other: Float64Array, otherLength: number): void {
    const mine = this.#sparse!;
    const mineLength = this.#sparseLength;
    const union = new Float64Array(mineLength + otherLength);
    let i = 0;
    let j = 0;
    let n = 0;
    while (i < mineLength || j < otherLength) {
      const a = i < mineLength ? mine[i]! : Infinity;
      const b = j < otherLength ? other[j]! : Infinity;
      if (a <= b) {
        union[n++] = a;
        i++;
        if (a === b) j++;
      } else {
        union[n++] = b;
        j++;
      }
    }
    this.#sparse = union;
    this.#sparseLength = n;
    if (n > SPARSE_LIMIT) this.#turnDense();
  }
}

function setRegister(registers: Uint8Array, hash: number): void {
  const index = registerIndex(hash);
  const rank = rankOf(hash);
  if (rank > registers[index]!) registers[index] = rank;
}

/** The first position in sorted[0, length) whose hash is >= `hash`. */
function lowerBound(sorted: Float64Array, length: number, hash: number): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < hash) low = middle + 1;
    else high = middle;
  }
  return low;
}

function packRegisters(registers: Uint8Array): Buffer {
  const bytes = Buffer.alloc(DENSE_BYTES);
  for (let r = 0, b = 0; r < REGISTER_COUNT; r += 4, b += 3) {
    const r0 = registers[r]!;
    const r1 = registers[r + 1]!;
    const r2 = registers[r + 2]!;
    const r3 = registers[r + 3]!;
    bytes[b] = (r0 << 2) | (r1 >>> 4);
    bytes[b + 1] = ((r1 & 0x0f) << 4) | (r2 >>> 2);
    bytes[b + 2] = ((r2 & 0x03) << 6) | r3;
  }
  return bytes;
}

function unpackRegisters(bytes: Uint8Array): Uint8Array {
  const registers = new Uint8Array(REGISTER_COUNT);
  for (let r = 0, b = 0; r < REGISTER_COUNT; r += 4, b += 3) {
    const b0 = bytes[b]!;
    const b1 = bytes[b + 1]!;
    const b2 = bytes[b + 2]!;
    registers[r] = b0 >>> 2;
    registers[r + 1] = ((b0 & 0x03) << 4) | (b1 >>> 4);
    registers[r + 2] = ((b1 & 0x0f) << 2) | (b2 >>> 6);
    registers[r + 3] = b2 & 0x3f;
  }
  for (const rank of registers) if (rank > MAX_RANK) throw new Error(`a stored distinct sketch has a register of ${rank}`);
  return registers;
}

/** Ertl (2017), algorithm 6: the improved raw estimate from the histogram of register values. */
function estimateFromRegisters(registers: Uint8Array): number {
  const histogram = new Array<number>(MAX_RANK + 1).fill(0);
  for (const rank of registers) histogram[rank]! += 1;
  const m = REGISTER_COUNT;
  let z = m * tau(1 - histogram[MAX_RANK]! / m);
  for (let k = RANK_BITS; k >= 1; k--) z = 0.5 * (z + histogram[k]!);
  z += m * sigma(histogram[0]! / m);
  return (ALPHA_INFINITY * m * m) / z;
}

/** σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k-1), summed until it no longer changes. */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let power = x;
  let weight = 1;
  let sum = x;
  let previous: number;
  do {
    power *= power;
    previous = sum;
    sum += power * weight;
    weight += weight;
  } while (sum !== previous);
  return sum;
}

/** τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))² 2^−k) / 3, summed until it no longer changes. */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let root = x;
  let weight = 1;
  let sum = 1 - x;
  let previous: number;
  do {
    root = Math.sqrt(root);
    previous = sum;
    weight *= 0.5;
    sum -= (1 - root) ** 2 * weight;
  } while (sum !== previous);
  return sum / 3;
}
