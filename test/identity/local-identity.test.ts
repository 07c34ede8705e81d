import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { JWK, KeyLike, SignJWT, exportJWK, generateKeyPair, importJWK } from 'jose';
import { checkStartup } from '../../src/startup/startup-checks';
import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

describe('local identity: the daemon trusts only tokens it signed, within their lifetime', () => {
  let h: TestApp;
  let signingKey: KeyLike;
  let kid: string;
  beforeAll(async () => {
    h = await createTestApp();
    const jwk = JSON.parse(fs.readFileSync(path.join(h.dataDir, 'identity-key.json'), 'utf8')) as JWK;
    signingKey = (await importJWK(jwk, 'ES256')) as KeyLike;
    kid = jwk.kid as string;
  });
  afterAll(async () => {
    await h.close();
  });

  const now = () => Math.floor(h.clock.now().getTime() / 1000);
  const call = (token: string) => h.api.get('/v1/policies').set(bearer(token));
  /** Signs with the daemon's own key, so only the claim under test is wrong. */
  function forge(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
    return new SignJWT({ roles: ['admin'], ...claims }).setProtectedHeader({ alg: 'ES256', kid, ...header }).sign(signingKey);
  }
  const base = () => ({ sub: 'admin-1', iss: 'jitbroker-local', aud: 'jitbroker', iat: now(), exp: now() + 600 });

  it('accepts a token from jitbroker token', async () => {
    expect((await call(await h.token('admin-1', ['admin']))).status).toBe(200);
  });

  it('accepts its own forge helper with correct claims (so the refusals below test one claim each)', async () => {
    expect((await call(await forge(base()))).status).toBe(200);
  });

  it.each([
    ['an expired token', () => ({ ...base(), iat: now() - 700, exp: now() - 100 })],
    ['a token with no exp', () => ({ ...base(), exp: undefined })],
    ['a token not valid before 5 minutes from now', () => ({ ...base(), nbf: now() + 300 })],
    ['a token issued 5 minutes in the future', () => ({ ...base(), iat: now() + 300, exp: now() + 900 })],
    ['another issuer', () => ({ ...base(), iss: 'https://evil.example' })],
    ['another audience', () => ({ ...base(), aud: 'some-other-api' })],
    ['no subject', () => ({ ...base(), sub: undefined })],
  ])('refuses %s with 401, audited', async (_name, claims) => {
    const before = (await h.audit.head()).seq;
    const res = await call(await forge(claims()));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unauthenticated');
    const added = await h.audit.query({ afterSeq: before, limit: 5 });
    expect(added.items.map((e) => e.action)).toEqual(['auth.failed']);
  });

  it('allows 60 s of clock skew on nbf and exp', async () => {
    expect((await call(await forge({ ...base(), nbf: now() + 30 }))).status).toBe(200);
    expect((await call(await forge({ ...base(), exp: now() - 30 }))).status).toBe(200);
  });

  it('refuses a token signed by another key, even with the daemon kid', async () => {
    const other = await generateKeyPair('ES256');
    const t = await new SignJWT({ roles: ['admin'], ...base() }).setProtectedHeader({ alg: 'ES256', kid }).sign(other.privateKey);
    expect((await call(t)).status).toBe(401);
  });

  it('never honours an embedded jwk, jku or x5u header', async () => {
    const other = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(other.publicKey);
    for (const header of [{ jwk }, { jku: 'http://127.0.0.1:1/keys' }, { x5u: 'http://127.0.0.1:1/cert' }]) {
      const t = await new SignJWT({ roles: ['admin'], ...base() }).setProtectedHeader({ alg: 'ES256', ...header }).sign(other.privateKey);
      expect((await call(t)).status).toBe(401);
    }
  });

  it('refuses an unknown crit extension', async () => {
    // jose will not sign an unknown crit, so this is signed by hand: ES256 over header.payload.
    const jwk = JSON.parse(fs.readFileSync(path.join(h.dataDir, 'identity-key.json'), 'utf8')) as crypto.JsonWebKey;
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg: 'ES256', kid, crit: ['exp-ext'], 'exp-ext': 1 })}.${enc({ roles: ['admin'], ...base() })}`;
    const sig = crypto.sign('sha256', Buffer.from(input), { key: crypto.createPrivateKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
    expect((await call(`${input}.${sig.toString('base64url')}`)).status).toBe(401);
  });

  it('refuses HS256 keyed with the public key, and alg none', async () => {
    const jwk = JSON.parse(fs.readFileSync(path.join(h.dataDir, 'identity-key.json'), 'utf8')) as JWK;
    const { d: _d, ...pub } = jwk;
    const publicPem = crypto.createPublicKey({ key: pub as crypto.JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const hs = await new SignJWT({ roles: ['admin'], ...base() }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(publicPem));
    expect((await call(hs)).status).toBe(401);
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect((await call(`${enc({ alg: 'none' })}.${enc({ roles: ['admin'], ...base() })}.`)).status).toBe(401);
  });

  it('maps roles it knows and ignores others; groups pass through', async () => {
    const t = await forge({ ...base(), sub: 'zed', roles: ['requester', 'superuser'], groups: ['helpdesk'] });
    // zed is only a requester: listing policies needs admin or auditor
    const res = await call(t);
    expect(res.status).toBe(403);
    expect(res.body.detail).toMatch(/your token carries requester/);
  });
});

describe('local identity is for one host', () => {
  it('refuses to start on a non-loopback address, whatever else is set', async () => {
    const h = await createTestApp();
    try {
      const refusals = checkStartup({ ...h.config, http: { ...h.config.http, host: '0.0.0.0', allowInsecure: true } });
      expect(refusals.join('\n')).toMatch(/identity.mode 'local' is for one host/);
      expect(checkStartup({ ...h.config, http: { ...h.config.http, host: '127.0.0.1' } })).toEqual([]);
      expect(checkStartup({ ...h.config, http: { ...h.config.http, host: '::1' } })).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe('a cached token still expires', () => {
  it('is refused once exp plus skew has passed, though it verified before', async () => {
    const h = await createTestApp();
    try {
      const t = await h.token('admin-1', ['admin'], [], { ttlSeconds: 120 });
      expect((await h.api.get('/v1/policies').set(bearer(t))).status).toBe(200);
      h.clock.advance(170 * 1000);
      expect((await h.api.get('/v1/policies').set(bearer(t))).status).toBe(200);
      h.clock.advance(20 * 1000);
      expect((await h.api.get('/v1/policies').set(bearer(t))).status).toBe(401);
    } finally {
      await h.close();
    }
  });
});
