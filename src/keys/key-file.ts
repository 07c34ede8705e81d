import fs from 'node:fs';

/**
 * Reads a key file the daemon owns, creating it (mode 0600, exclusively) on first start. A key
 * file others can read is refused: the key protects every device password.
 */
export function readOrCreateKeyFile(file: string, create: () => string): string {
  // A key is made only when there is none: not generated (and thrown away) on every start.
  if (!fs.existsSync(file)) {
    try {
      fs.writeFileSync(file, create(), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(`key file ${file} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600)`);
  }
  return fs.readFileSync(file, 'utf8');
}
