import { randomInt } from 'node:crypto';
import { Secret } from './secret';

export type CharClass = 'upper' | 'lower' | 'digit' | 'symbol';

const alphabets: Record<CharClass, string> = {
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  lower: 'abcdefghijklmnopqrstuvwxyz',
  digit: '0123456789',
  // No quotes, backslash, backtick or space: a password must survive being typed into a prompt.
  symbol: '!#$%&()*+,-./:;<=>?@[]^_{}~',
};
const lookAlikes = new Set('Il1O0o|'.split(''));

export interface PasswordPolicy {
  length: number;
  classes: readonly CharClass[];
  excludeLookAlikes: boolean;
}

/** A crypto-random password with at least one character of every class, in uniformly random order. */
export function generatePassword(policy: PasswordPolicy): Secret {
  const sets = [...new Set(policy.classes)].map((c) => alphabets[c].split('').filter((ch) => !(policy.excludeLookAlikes && lookAlikes.has(ch))));
  if (sets.length === 0 || policy.length < sets.length) throw new Error('password policy needs at least one class and a length of at least one per class');
  const all = sets.flat();
  const pick = (set: readonly string[]) => set[randomInt(set.length)] as string;
  const chars = [...sets.map(pick), ...Array.from({ length: policy.length - sets.length }, () => pick(all))];
  // Fisher–Yates with crypto randomness so the guaranteed characters are not at the front.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return new Secret(chars.join(''));
}
