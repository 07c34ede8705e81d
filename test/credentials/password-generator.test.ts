import util from 'node:util';
import fc from 'fast-check';
import pino from 'pino';
import { CharClass, generatePassword } from '../../src/credentials/password-generator';
import { Secret } from '../../src/credentials/secret';

const classTests: Record<CharClass, RegExp> = { upper: /[A-Z]/, lower: /[a-z]/, digit: /[0-9]/, symbol: /[^A-Za-z0-9]/ };

describe('password generation', () => {
  it('gives the configured length, at least one character of every class and nothing outside them', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 12, max: 128 }),
        fc.uniqueArray(fc.constantFrom<CharClass>('upper', 'lower', 'digit', 'symbol'), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (length, classes, excludeLookAlikes) => {
          const pw = generatePassword({ length, classes, excludeLookAlikes }).expose();
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
    for (let i = 0; i < 200; i++) expect(generatePassword({ length: 64, classes: ['symbol'], excludeLookAlikes: false }).expose()).not.toMatch(/["'\\` ]/);
  });

  it('does not repeat itself and spreads characters evenly', () => {
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const pw = generatePassword({ length: 20, classes: ['lower'], excludeLookAlikes: false }).expose();
      seen.add(pw);
      for (const ch of pw) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(seen.size).toBe(2000);
    // 40,000 draws over 26 letters: each near 1,538; a biased generator lands far outside ±20%.
    for (const n of counts.values()) expect(Math.abs(n - 40000 / 26) / (40000 / 26)).toBeLessThan(0.2);
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
