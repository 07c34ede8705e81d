import crypto from 'node:crypto';
import selfsigned from 'selfsigned';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { entraSignInSettings } from '../../src/portal/portal-config';

function errorsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ env });
  } catch (e) {
    if (e instanceof ConfigError) return [...e.lines];
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const oidc = { authority: 'https://login.microsoftonline.com', tenantId: '11111111-2222-4333-8444-555555555555', audience: 'api://jitbroker' };

describe('portal.* configuration', () => {
  it('defaults to 30 idle minutes, 8 hours at most, the secret in JITBROKER_PORTAL_CLIENT_SECRET, and no public origin', () => {
    const c = loadConfig({ env: {} });
    expect(c.portal).toEqual({ sessionIdle: 'PT30M', sessionMaxAge: 'PT8H', entra: { clientSecretEnv: 'JITBROKER_PORTAL_CLIENT_SECRET' } });
  });

  it('takes an https origin (http on loopback only), without a path, and refuses timeouts that contradict each other or half a certificate', () => {
    expect(loadConfig({ env: { JITBROKER_PORTAL_PUBLIC_ORIGIN: 'https://broker.example' } }).portal.publicOrigin).toBe('https://broker.example');
    expect(loadConfig({ env: { JITBROKER_PORTAL_PUBLIC_ORIGIN: 'http://127.0.0.1:7800' } }).portal.publicOrigin).toBe('http://127.0.0.1:7800');
    expect(errorsOf({ JITBROKER_PORTAL_PUBLIC_ORIGIN: 'http://broker.example' })).toEqual([expect.stringMatching(/^config portal\.publicOrigin .*must be https/)]);
    expect(errorsOf({ JITBROKER_PORTAL_PUBLIC_ORIGIN: 'https://broker.example/portal' })).toEqual([expect.stringMatching(/portal\.publicOrigin .*an origin only/)]);
    expect(errorsOf({ JITBROKER_PORTAL_PUBLIC_ORIGIN: 'https://broker.example/' })).toEqual([expect.stringMatching(/an origin only/)]);
    expect(errorsOf({ JITBROKER_PORTAL_SESSION_IDLE: 'PT9H' })).toEqual([expect.stringMatching(/portal\.sessionIdle .*longer than portal\.sessionMaxAge/)]);
    expect(errorsOf({ JITBROKER_PORTAL_ENTRA_CERTIFICATE_FILE: '/etc/jitbroker/portal.pem' })).toEqual([expect.stringMatching(/portal\.entra\.privateKeyFile/)]);
    expect(errorsOf({ JITBROKER_PORTAL_ENTRA_REDIRECT_URI: 'http://broker.example/auth/callback' })).toEqual([expect.stringMatching(/portal\.entra\.redirectUri/)]);
  });

  it('builds the Entra sign-in from a secret in the environment, or from a certificate (its SHA-256 thumbprint), and says what is missing', async () => {
    const portal = loadConfig({ env: { JITBROKER_PORTAL_PUBLIC_ORIGIN: 'https://broker.example', JITBROKER_PORTAL_ENTRA_CLIENT_ID: 'portal-app' } }).portal;
    expect(entraSignInSettings(portal, oidc, { JITBROKER_PORTAL_CLIENT_SECRET: 's3cret' })).toEqual({
      settings: {
        authority: oidc.authority,
        tenantId: oidc.tenantId,
        clientId: 'portal-app',
        credential: { clientSecret: 's3cret' },
        apiScope: 'api://jitbroker/.default',
        redirectUri: 'https://broker.example/auth/callback',
      },
    });
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'jitbroker-portal' }], { keySize: 2048, algorithm: 'sha256' });
    const files: Record<string, string> = { '/cert.pem': pems.cert, '/key.pem': pems.private };
    const withCert = { ...portal, entra: { ...portal.entra, certificateFile: '/cert.pem', privateKeyFile: '/key.pem' } };
    const built = entraSignInSettings(withCert, oidc, {}, (f) => files[f] as string);
    const der = new crypto.X509Certificate(pems.cert).raw;
    expect(built).toMatchObject({
      settings: { credential: { certificate: { thumbprintSha256: crypto.createHash('sha256').update(der).digest('hex').toUpperCase(), privateKey: pems.private } } },
    });
    expect(() => entraSignInSettings(withCert, oidc, {}, () => 'not a certificate')).toThrow(/holds no PEM certificate/);
    const bare = loadConfig({ env: {} }).portal;
    expect(entraSignInSettings(bare, oidc, {})).toEqual({
      missing:
        "The portal's Entra sign-in is not configured: it needs portal.entra.clientId, portal.publicOrigin (or portal.entra.redirectUri), a client secret in the environment variable JITBROKER_PORTAL_CLIENT_SECRET (or portal.entra.certificateFile and .privateKeyFile).",
    });
  });
});
