import crypto from 'node:crypto';

/**
 * Device ids and broker versions to Key Vault secret names, and back.
 *
 * Key Vault names are 1–127 of `0-9a-zA-Z-` and case-insensitive; device ids are 1–128 of
 * `A-Za-z0-9._-` and case-sensitive, so names need an encoding that is injective even after
 * case-folding. Layout, chosen knowing Key Vault keeps every version of a secret forever, cannot
 * back up a secret past 500 versions, and soft-deletes (a deleted name cannot be reused for 7–90
 * days):
 *
 *   {prefix}-d-{escaped device id}--{generation}     when the escaped id fits (≤ 96 characters)
 *   {prefix}-h-{SHA-256 of the device id, hex}--{generation}   otherwise
 *
 * - Escaping keeps `a-z0-9` as is and writes every other character as `-` plus one character:
 *   an upper-case letter as `-` + its lower case, `-` as `-0`, `.` as `-1`, `_` as `-2`. That code is
 *   prefix-free, never emits `--`, and emits only lower case, so two ids differing only in case
 *   get different names and `--` separates the generation unambiguously.
 * - The `d`/`h` marker keeps the readable and the hashed forms apart, so they cannot collide.
 * - A *generation* holds `versionsPerSecret` broker versions (default 100, at most 450): broker
 *   version v lives in generation ⌊(v − 1) / versionsPerSecret⌋. No secret ever nears the
 *   500-version backup limit, however often a device rotates; a generation whose last version is
 *   pruned is deleted whole (soft-delete; its name is never reused, since generations only grow).
 *
 * The broker's tables keep the full reference (name and Key Vault version id), so a later change
 * of `versionsPerSecret` or of the prefix never loses a password already stored.
 */
const maxEscaped = 96;

const escapes: Record<string, string> = { '-': '-0', '.': '-1', _: '-2' };
const unescapes: Record<string, string> = { '0': '-', '1': '.', '2': '_' };

export function escapeDeviceId(deviceId: string): string {
  let out = '';
  for (const ch of deviceId) {
    if (/[a-z0-9]/.test(ch)) out += ch;
    else if (/[A-Z]/.test(ch)) out += '-' + ch.toLowerCase();
    else if (escapes[ch]) out += escapes[ch];
    else throw new Error(`a device id cannot hold ${JSON.stringify(ch)}`);
  }
  return out;
}

export function unescapeDeviceId(escaped: string): string {
  let out = '';
  for (let i = 0; i < escaped.length; i++) {
    const ch = escaped[i] as string;
    if (ch !== '-') {
      out += ch;
      continue;
    }
    const next = escaped[++i];
    if (next === undefined) throw new Error('a dangling escape');
    out += unescapes[next] ?? (/[a-z]/.test(next) ? next.toUpperCase() : '\0');
    if (out.endsWith('\0')) throw new Error(`an unknown escape -${next}`);
  }
  return out;
}

export interface SecretNaming {
  prefix: string;
  versionsPerSecret: number;
}

export function generationOf(version: number, versionsPerSecret: number): number {
  return Math.floor((version - 1) / versionsPerSecret);
}

/** Whether `version` is the last broker version its generation's secret will hold. */
export function isLastOfGeneration(version: number, versionsPerSecret: number): boolean {
  return version % versionsPerSecret === 0;
}

export function secretName(naming: SecretNaming, deviceId: string, version: number): string {
  const escaped = escapeDeviceId(deviceId);
  const body = escaped.length <= maxEscaped ? `d-${escaped}` : `h-${crypto.createHash('sha256').update(deviceId, 'utf8').digest('hex')}`;
  return `${naming.prefix}-${body}--${generationOf(version, naming.versionsPerSecret)}`;
}

/** The device id a readable name stands for (undefined for a hashed one: its tags say which device). */
export function deviceIdOfName(prefix: string, name: string): string | undefined {
  const m = new RegExp(`^${prefix}-d-(.+)--(\\d+)$`).exec(name.toLowerCase());
  return m ? unescapeDeviceId(m[1] as string) : undefined;
}
