import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { passwordSetters } from '../../src/agent/password-setter';
import { Secret } from '../../src/secrets/secret';
import { writeFileAtomic } from '../../src/files/atomic-file';

describe('atomic files (agent state, the file setter) never follow a planted symlink', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-atomic-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A file someone else owns, which a symlink in `dir` points at. */
  function victim(name: string): string {
    const f = path.join(dir, name);
    fs.writeFileSync(f, 'precious\n', { mode: 0o644 });
    return f;
  }

  it('writes through a fresh 0600 temp file: links at the target and at the old predictable temp name leave their targets alone', async () => {
    const file = path.join(dir, 'device.pw');
    const viaTarget = victim('etc-shadow');
    const viaTemp = victim('etc-passwd');
    fs.symlinkSync(viaTarget, file);
    // The name the previous code used: `<file>.<pid>.tmp`, guessable by anyone who can list processes.
    fs.symlinkSync(viaTemp, `${file}.${process.pid}.tmp`);
    const old = process.umask(0o000);
    try {
      await passwordSetters.file({ file }).set('localadmin', new Secret('N3w-password!'));
    } finally {
      process.umask(old);
    }
    expect(fs.readFileSync(viaTarget, 'utf8')).toBe('precious\n');
    expect(fs.readFileSync(viaTemp, 'utf8')).toBe('precious\n');
    const st = fs.lstatSync(file);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe('N3w-password!');
    // Nothing left behind but what was planted.
    expect(fs.readdirSync(dir).sort()).toEqual(['device.pw', `device.pw.${process.pid}.tmp`, 'etc-passwd', 'etc-shadow']);
  });

  it('a readable file planted at the old temp name is not reused: the result is 0600 whatever was there', () => {
    const file = path.join(dir, 'agent.state');
    fs.writeFileSync(`${file}.${process.pid}.tmp`, '', { mode: 0o644 });
    writeFileAtomic(file, '{"acknowledged":true}\n');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(`${file}.${process.pid}.tmp`, 'utf8')).toBe('');
  });

  it('every write uses a new temp name, so none can be planted ahead of time', () => {
    const file = path.join(dir, 'agent.state');
    const names = new Set<string>();
    const rename = jest.spyOn(fs, 'renameSync').mockImplementation((from) => {
      names.add(String(from));
      fs.rmSync(String(from));
    });
    try {
      for (let i = 0; i < 5; i++) writeFileAtomic(file, `${i}\n`);
    } finally {
      rename.mockRestore();
    }
    expect(names.size).toBe(5);
    for (const n of names) expect(path.dirname(n)).toBe(dir);
  });
});
