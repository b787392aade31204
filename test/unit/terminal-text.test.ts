import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { escapeForTerminal } from '../../src/cli/terminal-text.ts';

describe('text printed to a terminal', () => {
  it('shows control and bidi characters as visible escapes', () => {
    expect(escapeForTerminal('ops\u001b]0;owned\u0007\u001b[2J\u009b\u202e\u2066 tab\there')).toBe(
      'ops\\x1b]0;owned\\x07\\x1b[2J\\x9b\\u202e\\u2066 tab\\x09here',
    );
    expect(escapeForTerminal('plain name: ünïcode ✓')).toBe('plain name: ünïcode ✓');
  });

  it('never lets a control or bidi character through, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(escapeForTerminal(text)).not.toMatch(/[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u);
      }),
      { seed: 11, numRuns: 500 },
    );
  });
});
