import type { Language } from '../i18n/i18n';

/** What kind of character, for colouring and the spelled form: capitals, small letters, digits and symbols each look different. */
export type CharKind = 'upper' | 'lower' | 'digit' | 'symbol';

export function kindOf(c: string): CharKind {
  if (/[A-Z]/.test(c)) return 'upper';
  if (/[a-z]/.test(c)) return 'lower';
  if (/[0-9]/.test(c)) return 'digit';
  return 'symbol';
}

/** Characters easily read as another (I l 1 |, O 0 o, S 5, B 8, Z 2): the readable form marks them. */
export const lookAlikes = new Set('Il1|O0oS5B8Z2'.split(''));

/** The password in groups of four, the way it is read out and typed. */
export function groupsOf(password: string, size = 4): string[] {
  const groups: string[] = [];
  for (let i = 0; i < password.length; i += size) groups.push(password.slice(i, i + size));
  return groups;
}

// The NATO/ICAO alphabet, the one help desks read passwords over the phone with, in both languages.
const nato = [
  'Alfa',
  'Bravo',
  'Charlie',
  'Delta',
  'Echo',
  'Foxtrot',
  'Golf',
  'Hotel',
  'India',
  'Juliett',
  'Kilo',
  'Lima',
  'Mike',
  'November',
  'Oscar',
  'Papa',
  'Quebec',
  'Romeo',
  'Sierra',
  'Tango',
  'Uniform',
  'Victor',
  'Whiskey',
  'X-ray',
  'Yankee',
  'Zulu',
];

const digits: Record<Language, string[]> = {
  en: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'],
  nl: ['nul', 'een', 'twee', 'drie', 'vier', 'vijf', 'zes', 'zeven', 'acht', 'negen'],
};

const symbols: Record<Language, Record<string, string>> = {
  en: {
    '!': 'exclamation mark',
    '"': 'double quote',
    '#': 'hash',
    $: 'dollar',
    '%': 'percent',
    '&': 'ampersand',
    "'": 'apostrophe',
    '(': 'open bracket',
    ')': 'close bracket',
    '*': 'asterisk',
    '+': 'plus',
    ',': 'comma',
    '-': 'dash',
    '.': 'full stop',
    '/': 'slash',
    ':': 'colon',
    ';': 'semicolon',
    '<': 'less than',
    '=': 'equals',
    '>': 'greater than',
    '?': 'question mark',
    '@': 'at sign',
    '[': 'open square bracket',
    '\\': 'backslash',
    ']': 'close square bracket',
    '^': 'caret',
    _: 'underscore',
    '`': 'backtick',
    '{': 'open curly brace',
    '|': 'vertical bar',
    '}': 'close curly brace',
    '~': 'tilde',
    ' ': 'space',
  },
  nl: {
    '!': 'uitroepteken',
    '"': 'dubbel aanhalingsteken',
    '#': 'hekje',
    $: 'dollarteken',
    '%': 'procentteken',
    '&': 'ampersand',
    "'": 'apostrof',
    '(': 'haakje openen',
    ')': 'haakje sluiten',
    '*': 'sterretje',
    '+': 'plusteken',
    ',': 'komma',
    '-': 'streepje',
    '.': 'punt',
    '/': 'schuine streep',
    ':': 'dubbele punt',
    ';': 'puntkomma',
    '<': 'kleiner dan',
    '=': 'isgelijkteken',
    '>': 'groter dan',
    '?': 'vraagteken',
    '@': 'apenstaartje',
    '[': 'vierkant haakje openen',
    '\\': 'backslash',
    ']': 'vierkant haakje sluiten',
    '^': 'dakje',
    _: 'laag streepje',
    '`': 'accent grave',
    '{': 'accolade openen',
    '|': 'verticale streep',
    '}': 'accolade sluiten',
    '~': 'tilde',
    ' ': 'spatie',
  },
};

const caseWords: Record<Language, { upper: string; lower: string }> = { en: { upper: 'capital', lower: 'small' }, nl: { upper: 'hoofdletter', lower: 'kleine letter' } };

/** One character spelled out: "capital Kilo", "small alfa", "seven", "exclamation mark". */
export function spell(c: string, language: Language): string {
  const kind = kindOf(c);
  if (kind === 'digit') return digits[language][Number(c)] as string;
  if (kind === 'symbol') return symbols[language][c] ?? `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  const word = nato[c.toUpperCase().charCodeAt(0) - 65] as string;
  return `${caseWords[language][kind]} ${kind === 'upper' ? word.toUpperCase() : word.toLowerCase()}`;
}
