import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, envName, loadConfig } from '../../src/config/load-config';

function errorsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return [...e.lines];
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration: defaults, a file, JITBROKER_* variables, validated with one line per bad key', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-config-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs on the embedded defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.http).toMatchObject({ host: '127.0.0.1', port: 7800, allowInsecure: false, trustProxy: 0 });
    expect(c.dataDir).toBe('./data');
    expect(c.store.driver).toBe('sqlite');
    expect(c.vault.backend).toBe('local');
    expect(c.identity.mode).toBe('local');
    expect(c.rotation).toMatchObject({ maxAge: 'PT4H', postUseDelay: 'PT5M', ackTimeout: 'PT15M', history: 5, jitter: 0.2 });
    expect(c.password.length).toBe(20);
  });

  it('names every key`s environment variable in upper snake case', () => {
    expect(envName(['rotation', 'maxAge'])).toBe('JITBROKER_ROTATION_MAX_AGE');
    expect(envName(['store', 'driver'])).toBe('JITBROKER_STORE_DRIVER');
    expect(envName(['dataDir'])).toBe('JITBROKER_DATA_DIR');
  });

  it('overlays a JSON file, then a YAML file, then the environment (with the port and host shortcuts)', () => {
    const json = path.join(dir, 'c.json');
    fs.writeFileSync(json, JSON.stringify({ rotation: { maxAge: 'PT2H' }, password: { length: 32 } }));
    const yaml = path.join(dir, 'c.yaml');
    fs.writeFileSync(yaml, 'rotation:\n  maxAge: PT3H\nlog:\n  level: warn\n');
    expect(loadConfig({ file: json, env: {} }).rotation.maxAge).toBe('PT2H');
    expect(loadConfig({ file: json, env: {} }).password.length).toBe(32);
    expect(loadConfig({ file: yaml, env: {} }).log.level).toBe('warn');
    const c = loadConfig({ file: json, env: { JITBROKER_ROTATION_MAX_AGE: 'PT1H', JITBROKER_PORT: '9000', JITBROKER_HOST: '::1', JITBROKER_PASSWORD_CLASSES: 'upper, digit' } });
    expect(c.rotation.maxAge).toBe('PT1H');
    expect(c.http).toMatchObject({ port: 9000, host: '::1' });
    expect(c.password.classes).toEqual(['upper', 'digit']);
  });

  it('takes maps and lists of objects from the environment as JSON', () => {
    const c = loadConfig({
      env: {
        JITBROKER_PASSWORD_BY_GROUP: '{"kiosks":{"kind":"passphrase","words":5}}',
        JITBROKER_WEBHOOKS_ENDPOINTS: '[{"url":"https://hooks.example/x","events":["escalation.submitted"]}]',
      },
    });
    expect(c.passwordByGroup).toEqual({ kiosks: { kind: 'passphrase', words: 5 } });
    expect(c.webhooks.endpoints).toEqual([{ url: 'https://hooks.example/x', events: ['escalation.submitted'] }]);
    const lines = errorsOf(() => loadConfig({ env: { JITBROKER_WEBHOOKS_ENDPOINTS: 'https://hooks.example/x' } }));
    expect(lines[0]).toMatch(/config webhooks.endpoints .*accepted: a list of objects \(JSON in an environment variable\)/);
  });

  it('store.driver postgres needs a PostgreSQL store.url, and never repeats its password', () => {
    expect(errorsOf(() => loadConfig({ env: { JITBROKER_STORE_DRIVER: 'postgres' } }))[0]).toMatch(/^config store.url.*is required with store.driver postgres/);
    const bad = errorsOf(() => loadConfig({ env: { JITBROKER_STORE_DRIVER: 'postgres', JITBROKER_STORE_URL: 'mysql://u:s3cret@db/x' } }));
    expect(bad[0]).toMatch(/^config store.url.*"mysql:\/\/u:\*\*\*@db\/x".*is not a PostgreSQL URL/);
    expect(bad.join('\n')).not.toContain('s3cret');
    const ok = loadConfig({ env: { JITBROKER_STORE_DRIVER: 'postgres', JITBROKER_STORE_URL: 'postgres://jb@db.internal:5432/jitbroker' } });
    expect(ok.store).toMatchObject({ driver: 'postgres', url: 'postgres://jb@db.internal:5432/jitbroker' });
    expect(loadConfig({ env: {} }).rotation.lease).toBe('PT5M');
  });

  it('refuses an Entra tenant id or authority the identity library would refuse, before it is ever used', () => {
    const lines = errorsOf(() =>
      loadConfig({ env: { JITBROKER_VAULT_AZURE_CREDENTIAL_TENANT_ID: 'contoso tenant', JITBROKER_VAULT_AZURE_CREDENTIAL_AUTHORITY_HOST: 'http://login.example.test' } }),
    );
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.startsWith('config vault.azure.credential.tenantId'))).toMatch(/"contoso tenant".*a tenant id: the directory's GUID or its domain name/);
    expect(lines.find((l) => l.startsWith('config vault.azure.credential.authorityHost'))).toMatch(/"http:\/\/login.example.test".*an https URL/);
    const ok = loadConfig({
      env: { JITBROKER_VAULT_AZURE_CREDENTIAL_TENANT_ID: 'contoso.onmicrosoft.com', JITBROKER_VAULT_AZURE_CREDENTIAL_AUTHORITY_HOST: 'https://login.microsoftonline.us' },
    });
    expect(ok.vault.azure.credential).toMatchObject({ tenantId: 'contoso.onmicrosoft.com', authorityHost: 'https://login.microsoftonline.us' });
  });

  it('refuses an escalation category routed to a destination that does not exist', () => {
    const lines = errorsOf(() => loadConfig({ env: { JITBROKER_ESCALATIONS_CATEGORIES: '{"hardware":"nobody"}' } }));
    expect(lines[0]).toMatch(/config escalations.categories.hardware .*routes to 'nobody', which is not one of escalations.destinations/);
  });

  it('reports each bad value on its own line with the key, the source, the problem and the accepted form', () => {
    const lines = errorsOf(() =>
      loadConfig({
        env: { JITBROKER_PORT: 'eighty', JITBROKER_ROTATION_MAX_AGE: 'P1M', JITBROKER_LOG_LEVEL: 'loud', JITBROKER_HTTP_ALLOW_INSECURE: 'yes', JITBROKER_STORE_DRIVER: 'mysql' },
      }),
    );
    expect(lines).toHaveLength(5);
    expect(lines.find((l) => l.startsWith('config http.port'))).toMatch(/\(from JITBROKER_PORT\): "eighty".*accepted: an integer from 0 to 65535/);
    expect(lines.find((l) => l.startsWith('config rotation.maxAge'))).toMatch(/"P1M".*accepted: an ISO 8601 duration/);
    expect(lines.find((l) => l.startsWith('config log.level'))).toMatch(/accepted: one of fatal \| error \| warn \| info \| debug \| trace \| silent/);
    expect(lines.find((l) => l.startsWith('config http.allowInsecure'))).toMatch(/accepted: true or false/);
    expect(lines.find((l) => l.startsWith('config store.driver'))).toMatch(/"mysql".*accepted: one of sqlite \| postgres/);
  });

  it('refuses a duration longer than 366 days in any duration setting, naming the bound', () => {
    expect(loadConfig({ env: { JITBROKER_ROTATION_MAX_AGE: 'P366D' } }).rotation.maxAge).toBe('P366D');
    const lines = errorsOf(() =>
      loadConfig({ env: { JITBROKER_ROTATION_MAX_AGE: 'P999999999D', JITBROKER_AUDIT_CHECKPOINT_EVERY: 'P367D', JITBROKER_IDENTITY_OIDC_JWKS_COOLDOWN: `PT${'9'.repeat(400)}S` } }),
    );
    expect(lines).toHaveLength(3);
    for (const key of ['rotation.maxAge', 'audit.checkpoint.every', 'identity.oidc.jwksCooldown']) {
      expect(lines.find((l) => l.startsWith(`config ${key}`))).toMatch(/accepted: an ISO 8601 duration greater than zero and at most 366 days/);
    }
  });

  it('store.checkpointPages: 250 by default, a whole number of pages from 16 to 100000', () => {
    expect(loadConfig({ env: {} }).store.checkpointPages).toBe(250);
    // Checkpoints run in a worker thread between batches unless store.checkpoint says inline.
    expect(loadConfig({ env: {} }).store.checkpoint).toBe('worker');
    expect(loadConfig({ env: { JITBROKER_STORE_CHECKPOINT_PAGES: '1000' } }).store.checkpointPages).toBe(1000);
    expect(errorsOf(() => loadConfig({ env: { JITBROKER_STORE_CHECKPOINT_PAGES: '8' } }))[0]).toMatch(
      /^config store.checkpointPages \(from JITBROKER_STORE_CHECKPOINT_PAGES\): 8.*accepted: an integer from 16 to 100000/,
    );
  });

  it('store.maxSizeMebibytes: unset by default, a whole number of MiB from 1 to 16777216, SQLite only', () => {
    expect(loadConfig({ env: {} }).store.maxSizeMebibytes).toBeUndefined();
    expect(loadConfig({ env: { JITBROKER_STORE_MAX_SIZE_MEBIBYTES: '512' } }).store.maxSizeMebibytes).toBe(512);
    for (const bad of ['0', '1.5', '16777217', 'lots']) {
      expect(errorsOf(() => loadConfig({ env: { JITBROKER_STORE_MAX_SIZE_MEBIBYTES: bad } }))[0]).toMatch(
        new RegExp(`^config store.maxSizeMebibytes \\(from JITBROKER_STORE_MAX_SIZE_MEBIBYTES\\): "?${bad.replace('.', '\\.')}"?.*accepted: an integer from 1 to 16777216`),
      );
    }
    const pg = { JITBROKER_STORE_DRIVER: 'postgres', JITBROKER_STORE_URL: 'postgres://jb@db.internal:5432/jitbroker' };
    expect(errorsOf(() => loadConfig({ env: { ...pg, JITBROKER_STORE_MAX_SIZE_MEBIBYTES: '512' } }))[0]).toMatch(
      /^config store.maxSizeMebibytes.*applies to store.driver sqlite only/,
    );
  });

  it('rotation.maxPerSecond: 40 by default, 0 for no cap, never negative', () => {
    expect(loadConfig({ env: {} }).rotation.maxPerSecond).toBe(40);
    expect(loadConfig({ env: { JITBROKER_ROTATION_MAX_PER_SECOND: '0' } }).rotation.maxPerSecond).toBe(0);
    expect(errorsOf(() => loadConfig({ env: { JITBROKER_ROTATION_MAX_PER_SECOND: '-1' } }))[0]).toMatch(
      /^config rotation.maxPerSecond \(from JITBROKER_ROTATION_MAX_PER_SECOND\): -1.*accepted: a number from 0 to 100000/,
    );
    // A page of claimed jobs must start within the lease that holds them.
    expect(errorsOf(() => loadConfig({ env: { JITBROKER_ROTATION_MAX_PER_SECOND: '0.001', JITBROKER_ROTATION_LEASE: 'PT5M' } }))[0]).toMatch(
      /^config rotation.maxPerSecond.*too low for rotation.lease \(PT5M\).*accepted: 0, or at least 2 jobs per lease/,
    );
  });

  it('refuses unknown keys, unreadable files and files that are not objects', () => {
    const f = path.join(dir, 'unknown.json');
    fs.writeFileSync(f, JSON.stringify({ rotation: { maxAge: 'PT1H', maxage: 'PT2H' } }));
    expect(errorsOf(() => loadConfig({ file: f, env: {} }))[0]).toMatch(/^config rotation: unknown key\(s\) maxage/);
    expect(errorsOf(() => loadConfig({ file: path.join(dir, 'missing.json'), env: {} }))[0]).toMatch(/cannot be read \(ENOENT\)/);
    const arr = path.join(dir, 'array.json');
    fs.writeFileSync(arr, '[1,2]');
    expect(errorsOf(() => loadConfig({ file: arr, env: {} }))[0]).toMatch(/is not a JSON object/);
  });

  it('refuses out-of-range numbers and a password policy too weak to use', () => {
    const lines = errorsOf(() => loadConfig({ env: { JITBROKER_PASSWORD_LENGTH: '8', JITBROKER_ROTATION_HISTORY: '0', JITBROKER_PASSWORD_CLASSES: 'emoji' } }));
    expect(lines.map((l) => l.split(':')[0])).toEqual(
      expect.arrayContaining(['config password.length (from JITBROKER_PASSWORD_LENGTH)', 'config rotation.history (from JITBROKER_ROTATION_HISTORY)']),
    );
    expect(lines.join('\n')).toMatch(/password.classes.0/);
  });

  it('takes the log level from LOG_LEVEL, under JITBROKER_LOG_LEVEL when both are set', () => {
    expect(loadConfig({ env: { LOG_LEVEL: 'debug' } }).log.level).toBe('debug');
    expect(loadConfig({ env: { LOG_LEVEL: 'debug', JITBROKER_LOG_LEVEL: 'warn' } }).log.level).toBe('warn');
    expect(loadConfig({ env: { JITBROKER_LOG_LEVEL: 'error' } }).log.level).toBe('error');
    expect(errorsOf(() => loadConfig({ env: { LOG_LEVEL: 'loud' } }))[0]).toMatch(/^config log.level \(from LOG_LEVEL\): "loud".*accepted: one of fatal/);
  });
});
