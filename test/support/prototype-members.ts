/**
 * The names of Object.prototype's members: the keys an attacker picks first, because code that
 * reads a user-chosen key through a plain object finds these on every object.
 */
import { MAP_KEY_PATTERN } from '../../src/domain/event-rules.ts';

/** Every member name, `__proto__` included. */
export const PROTOTYPE_MEMBERS: readonly string[] = Object.getOwnPropertyNames(Object.prototype);

/** The member names a dimension or value key may take (the key rule refuses `__proto__`). */
export const PROTOTYPE_MEMBER_KEYS: readonly string[] = PROTOTYPE_MEMBERS.filter((name) => MAP_KEY_PATTERN.test(name));
