import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// O_EXCL makes open fail on anything already at the name, a symlink included (dangling or not), and
// O_NOFOLLOW says so twice: a link planted in the directory can never redirect the write.
const createExclusive = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW;

/**
 * Replaces `file` with `content` so that after a crash it holds either the old or the new
 * content, never a torn mix: write a private temp file, fsync it, rename it over, fsync the dir.
 * The temp file is new (exclusive), randomly named in the same directory and created 0600, so no
 * one can guess its name ahead of time or have it follow a symlink; the rename replaces a symlink
 * at `file` itself, never the file it points to.
 */
export function writeFileAtomic(file: string, content: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(12).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, createExclusive, 0o600);
  try {
    try {
      // The umask can only narrow the mode; this makes it exactly 0600 whatever it is.
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  const dir = fs.openSync(path.dirname(path.resolve(file)), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}
