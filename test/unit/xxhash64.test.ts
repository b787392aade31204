/**
 * XXH64 against the reference implementation. The expected digests were produced by the system's
 * libxxhash 0.8 (Debian's libxxhash0), called through Python's ctypes:
 *   lib.XXH64(text.encode('utf-8'), len, 0)
 * covering every code path: under 4 bytes (byte tail), 4–7 (word tail), 8–31 (lane tail), 32 and
 * more (four stripes), a length that leaves every kind of tail, and multi-byte UTF-8.
 */
import { describe, expect, it } from 'vitest';
import { word64Hex, xxhash64OfText } from '../../src/domain/xxhash64.ts';

const REFERENCE: [string, string][] = [
  ['', 'ef46db3751d8e999'],
  ['a', 'd24ec4f1a98c6e5b'],
  ['abc', '44bc2cf5ad770999'],
  ['u-1', '821a0434b1f1dd6a'],
  ['user-42', '397e9d3a76af7c81'],
  ['constructor', '30fd4b22b7c98512'],
  ['éé', 'ef5fd51383a9c8ff'],
  ['日本語', '7179a19f3719f5e1'],
  ['😀', '9025b8abaae87b80'],
  ['xxx', '3c3750d957b59c9b'],
  ['yyyy', 'daf922126f9a9d49'],
  ['zzzzzzz', '95e37c9cf4c0ba11'],
  ['w'.repeat(8), '40e27c43b3d75a58'],
  ['q'.repeat(31), 'c5de6c8bb3485c3a'],
  ['r'.repeat(32), '99cc80aa422dcf85'],
  ['s'.repeat(33), '11be606ee0a2680b'],
  ['The quick brown fox jumps over the lazy dog', '0b242d361fda71bc'],
  ['t'.repeat(64) + 'u'.repeat(37), 'e0354a9ecb899abb'],
  ['v'.repeat(1000), 'e4d305d83b8c8fa5'],
  // 8,000 UTF-8 bytes: longer than the scratch buffer, so encoded on its own.
  ['😀'.repeat(2000), '41c1f209d46a0d20'],
];

describe('XXH64', () => {
  it.each(REFERENCE)('hashes %j as libxxhash does', (text, expected) => {
    expect(word64Hex(xxhash64OfText(text))).toBe(expected);
  });

  it('gives the same digest again after other texts reused the scratch buffer', () => {
    const first = word64Hex(xxhash64OfText('user-42'));
    xxhash64OfText('The quick brown fox jumps over the lazy dog');
    expect(word64Hex(xxhash64OfText('user-42'))).toBe(first);
  });
});
