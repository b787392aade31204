/**
 * Text from the store (a key's name) printed to an operator's terminal: control characters would
 * be obeyed, not shown (ESC and CSI start escape sequences that retitle the window, clear the
 * screen or, in some terminals, write files), and bidirectional formatting characters reorder
 * what is shown. Each is written as a visible escape instead: \x1b, \x9b, \u202e. Pure.
 */
import { UNSAFE_NAME_CHARACTERS } from '../auth/key-service.ts';

/** The characters new key names may not hold (key-service.ts), every one of them. */
const UNPRINTABLE = new RegExp(UNSAFE_NAME_CHARACTERS.source, 'gu');

export function escapeForTerminal(text: string): string {
  return text.replace(UNPRINTABLE, (character) => {
    const code = character.codePointAt(0)!;
    // Two hex digits cover C0, DEL and C1; the formatting characters need four.
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
