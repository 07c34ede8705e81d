import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FakeEntra, start as startFakeEntra } from '../support/fake-entra';
import { FakeKeyVault, startFakeKeyVault } from '../support/fake-key-vault';
import { DaemonProcess, cleanEnv, cliPath, repoRoot, serveInTempDir, startDaemonProcess } from '../support/daemon-process';

/**
 * The foundation's end-to-end flow, unchanged, with the production backends: the README's
 * walkthrough block runs as written against a real daemon whose passwords live in (the local)
 * Azure Key Vault and whose people sign in with (the local) Entra ID. The only substitution is
 * `jb token`, which in oidc mode cannot sign anything: here it asks the local issuer for an
 * Entra-shaped access token carrying the same subject, app roles and groups.
 */
const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const script = /<!-- walkthrough:start -->\s*```bash\n([\s\S]*?)```/.exec(readme)?.[1] as string;

describe('the walkthrough on Azure Key Vault and Entra ID (local protocol-faithful servers)', () => {
  let kv: FakeKeyVault;
  let entra: FakeEntra;
  let minter: http.Server;
  let mintUrl: string;
  let d: DaemonProcess;

  beforeAll(async () => {
    kv = await startFakeKeyVault({ clients: { 'jitbroker-app': 'kv-client-secret' } });
    entra = await startFakeEntra({ https: true });
    // `jb token --sub S --roles R --groups G` in the script becomes a request here.
    minter = http.createServer((req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const list = (k: string) => (q.get(k) ?? '').split(',').filter((x) => x !== '');
      void entra.mint({ oid: q.get('sub'), sub: `pairwise-${q.get('sub')}`, name: q.get('sub'), roles: list('roles'), groups: list('groups') }).then((t) => res.end(t));
    });
    await new Promise<void>((r) => minter.listen(0, '127.0.0.1', r));
    mintUrl = `http://127.0.0.1:${(minter.address() as AddressInfo).port}/`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-e2e-prod-'));
    fs.writeFileSync(path.join(dir, 'kv-ca.pem'), kv.ca);
    fs.writeFileSync(path.join(dir, 'entra-ca.pem'), entra.ca as string);
    d = await startDaemonProcess({
      cwd: dir,
      env: {
        JITBROKER_PORT: '0',
        JITBROKER_DATA_DIR: path.join(dir, 'data'),
        JITBROKER_IDENTITY_MODE: 'oidc',
        JITBROKER_IDENTITY_OIDC_AUTHORITY: entra.base,
        JITBROKER_IDENTITY_OIDC_TENANT_ID: entra.tenantId,
        JITBROKER_IDENTITY_OIDC_AUDIENCE: entra.audience,
        JITBROKER_IDENTITY_OIDC_CA_FILE: path.join(dir, 'entra-ca.pem'),
        JITBROKER_VAULT_BACKEND: 'azure-keyvault',
        JITBROKER_VAULT_AZURE_URL: kv.base,
        JITBROKER_VAULT_AZURE_CA_FILE: path.join(dir, 'kv-ca.pem'),
        JITBROKER_VAULT_AZURE_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
        JITBROKER_VAULT_AZURE_CREDENTIAL_KIND: 'client-secret',
        JITBROKER_VAULT_AZURE_CREDENTIAL_TENANT_ID: kv.tenantId,
        JITBROKER_VAULT_AZURE_CREDENTIAL_CLIENT_ID: 'jitbroker-app',
        JITBROKER_VAULT_AZURE_CREDENTIAL_AUTHORITY_HOST: kv.base,
        AZURE_CLIENT_SECRET: 'kv-client-secret',
      },
    });
  });
  afterAll(async () => {
    await d?.stop();
    if (d) fs.rmSync(d.dir, { recursive: true, force: true });
    await new Promise((r) => minter?.close(r));
    await entra?.stop();
    await kv?.close();
  });

  jest.setTimeout(120000);
  it('runs as pasted: the agent sets the password, alice reads exactly that, bob is refused, the chain verifies', async () => {
    const jb = `jb() {
  if [ "$1" = token ]; then
    shift; local sub='' roles='' groups=''
    while [ $# -gt 0 ]; do case "$1" in --sub) sub=$2; shift 2;; --roles) roles=$2; shift 2;; --groups) groups=$2; shift 2;; *) shift;; esac; done
    node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t))' "${mintUrl}?sub=$sub&roles=$roles&groups=$groups"
  else
    node ${JSON.stringify(cliPath)} "$@"
  fi
}`;
    // Not spawnSync: the local servers live in this process and must keep answering.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn('bash', ['-euo', 'pipefail', '-c', `${jb}\n${script}`], { cwd: d.dir, env: cleanEnv({ JITBROKER_URL: d.url }) });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      p.once('close', (status) => resolve({ status, stdout, stderr }));
    });
    expect(r.stderr).not.toMatch(/invalid|unauthenticated/i);
    expect(r.status).toBe(0);
    const devicePassword = fs.readFileSync(path.join(d.dir, 'laptop-7.password'), 'utf8');
    expect(r.stdout).toContain(`password: ${devicePassword}`);
    expect(r.stdout).toContain('refused, as it should be');
    expect(r.stderr).toMatch(/Only the grant's requester may read its password/);
    expect(r.stdout).toMatch(/ok: +true/);
    expect(r.stdout).toMatch(/grant\.password-revealed +success/);
    // The audit names people by their immutable oid, not by the pairwise sub.
    expect(r.stdout).toMatch(/alice/);
    expect(r.stdout).not.toMatch(/pairwise-alice/);

    // The password lives in Key Vault, reached with the real credential and SDK, and nowhere in the broker's store or output.
    expect(kv.values()).toContain(devicePassword);
    expect(kv.tokensIssued()).toBeGreaterThan(0);
    const dbBytes = Buffer.concat(
      ['jitbroker.db', 'jitbroker.db-wal']
        .map((f) => path.join(d.dir, 'data', f))
        .filter(fs.existsSync)
        .map((f) => fs.readFileSync(f)),
    );
    expect(dbBytes.includes(Buffer.from(devicePassword))).toBe(false);
    expect(fs.existsSync(path.join(d.dir, 'data', 'identity-key.json'))).toBe(false);
    expect(d.output()).not.toContain(devicePassword);
    expect(d.output()).not.toMatch(/identity.mode is local/);
  });
});

describe('a Key Vault setting the daemon cannot use', () => {
  // Found only once the store is open (the vault is built on it): the refusal still exits 2, the
  // systemd unit's RestartPreventExitStatus, and closes the store it opened on its way out.
  it('refuses to start with exit 2, one line naming the key, and closes the store it had opened', () => {
    const r = serveInTempDir(() => ({
      JITBROKER_VAULT_BACKEND: 'azure-keyvault',
      JITBROKER_VAULT_AZURE_URL: 'https://jitbroker-test.vault.azure.net',
      JITBROKER_VAULT_AZURE_CREDENTIAL_KIND: 'client-secret',
      JITBROKER_VAULT_AZURE_CREDENTIAL_TENANT_ID: 'contoso.onmicrosoft.com',
      JITBROKER_VAULT_AZURE_CREDENTIAL_CLIENT_ID: 'jitbroker-app',
    }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^jitbroker: refusing to start:\nvault\.azure\.credential\.clientSecretEnv: .*AZURE_CLIENT_SECRET, which is not set\n$/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stdout).not.toMatch(/listening/);
    // The store was opened (and migrated) before the vault refused; closing it checkpoints the WAL
    // into the database file and removes the -wal and -shm files, which a process that exits with
    // its connection open leaves behind.
    expect(r.left).toContain('jitbroker.db');
    expect(r.left).not.toContain('jitbroker.db-wal');
    expect(r.left).not.toContain('jitbroker.db-shm');
  });
});
