import util from 'node:util';
import fc from 'fast-check';
import pino from 'pino';
import { CharClass, PasswordPolicy, entropyBits, generatePassword, policyForDevice } from '../../src/credentials/password-generator';
import { Secret } from '../../src/secrets/secret';

const random = (p: Partial<PasswordPolicy>): PasswordPolicy => ({
  kind: 'random',
  length: 20,
  classes: ['upper', 'lower', 'digit', 'symbol'],
  excludeLookAlikes: true,
  words: 6,
  separator: '-',
  capitalize: true,
  digit: true,
  ...p,
});
const passphrase = (p: Partial<PasswordPolicy>): PasswordPolicy => random({ kind: 'passphrase', ...p });

const classTests: Record<CharClass, RegExp> = { upper: /[A-Z]/, lower: /[a-z]/, digit: /[0-9]/, symbol: /[^A-Za-z0-9]/ };

describe('password generation', () => {
  it('gives the configured length, at least one character of every class and nothing outside them', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 12, max: 128 }),
        fc.uniqueArray(fc.constantFrom<CharClass>('upper', 'lower', 'digit', 'symbol'), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (length, classes, excludeLookAlikes) => {
          const pw = generatePassword(random({ length, classes, excludeLookAlikes })).expose();
          if (pw.length !== length) return false;
          if (!classes.every((c) => classTests[c].test(pw))) return false;
          const allowed = new RegExp(`^[${classes.map((c) => ({ upper: 'A-Z', lower: 'a-z', digit: '0-9', symbol: '!#$%&()*+,\\-./:;<=>?@\\[\\]^_{}~' })[c]).join('')}]+$`);
          if (!allowed.test(pw)) return false;
          return !excludeLookAlikes || !/[Il1O0o|]/.test(pw);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never uses quotes, backslashes, backticks or spaces, which break prompts and shells', () => {
    for (let i = 0; i < 200; i++) expect(generatePassword(random({ length: 64, classes: ['symbol'], excludeLookAlikes: false })).expose()).not.toMatch(/["'\\` ]/);
  });

  it('does not repeat itself and spreads characters evenly', () => {
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const pw = generatePassword(random({ length: 20, classes: ['lower'], excludeLookAlikes: false })).expose();
      seen.add(pw);
      for (const ch of pw) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(seen.size).toBe(2000);
    // 40,000 draws over 26 letters: each near 1,538; a biased generator lands far outside ±20%.
    for (const n of counts.values()) expect(Math.abs(n - 40000 / 26) / (40000 / 26)).toBeLessThan(0.2);
  });
});

describe('passphrases', () => {
  it('are the configured number of EFF words, joined by the separator, capitalised, with one digit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 12 }), fc.constantFrom('-', '.', ' ', ''), (words, separator) => {
        const pw = generatePassword(passphrase({ words, separator: separator === '' ? '_' : separator })).expose();
        const parts = pw.split(separator === '' ? '_' : separator);
        return parts.length === words && parts.every((w) => /^[A-Z][a-z]*[0-9]?$/.test(w)) && (pw.match(/[0-9]/g) ?? []).length === 1;
      }),
    );
  });

  it('without capitals or digit are plain lowercase words', () => {
    const pw = generatePassword(passphrase({ words: 5, separator: ' ', capitalize: false, digit: false })).expose();
    expect(pw).toMatch(/^[a-z]+( [a-z]+){4}$/);
  });

  it('count their entropy from the list: six words are over 77 bits', () => {
    expect(entropyBits(passphrase({ words: 6, digit: false }))).toBeCloseTo(6 * Math.log2(7772), 5);
    expect(entropyBits(random({ length: 20 }))).toBeGreaterThan(120);
  });
});

describe('the password policy of a device', () => {
  const defaults = random({});
  it('is the default when no group has its own', () => {
    expect(policyForDevice(['laptops'], defaults, { kiosks: { kind: 'passphrase' } })).toEqual(defaults);
  });
  it('is the group policy (over the default) when one group has one', () => {
    expect(policyForDevice(['laptops', 'kiosks'], defaults, { kiosks: { kind: 'passphrase', words: 7 } })).toEqual({ ...defaults, kind: 'passphrase', words: 7 });
  });
  it('is the strongest when several groups have one, so joining a group never weakens a password', () => {
    const chosen = policyForDevice(['a', 'b', 'c'], defaults, { a: { length: 14 }, b: { length: 40 }, c: { kind: 'passphrase', words: 4 } });
    expect(chosen.length).toBe(40);
    expect(chosen.kind).toBe('random');
  });
});

describe('a Secret prints as [redacted] everywhere but expose()', () => {
  const s = new Secret('hunter2-Hunter2');
  it('in JSON, strings, util.inspect and template literals', () => {
    expect(JSON.stringify({ s })).toBe('{"s":"[redacted]"}');
    expect(String(s)).toBe('[redacted]');
    expect(`${s}`).toBe('[redacted]');
    expect(util.inspect({ nested: { s } })).not.toContain('hunter2');
    expect(s.expose()).toBe('hunter2-Hunter2');
  });
  it('in pino log lines', () => {
    const lines: string[] = [];
    pino({}, { write: (l: string) => void lines.push(l) }).info({ s, wrapped: { s } }, 'x');
    expect(lines.join('')).not.toContain('hunter2');
  });
});
