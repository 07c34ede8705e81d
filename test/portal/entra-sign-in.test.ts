import { createEntraSignIn, EntraSignIn } from '../../src/portal/entra-sign-in';
import { FakeEntra, start, submitLoginForm } from '../support/fake-entra';
import { decodeJwt } from 'jose';

const redirectUri = 'http://127.0.0.1:7800/portal/auth/callback';

describe('Entra sign-in for the portal: the code flow with PKCE, through MSAL, against a local authority', () => {
  let entra: FakeEntra;
  let signIn: EntraSignIn;
  const clientId = '6f1c2a3b-0000-4000-8000-00000000c1d2';
  beforeAll(async () => {
    entra = await start({
      https: true,
      clients: { [clientId]: 'portal-secret' },
      redirectUris: [redirectUri],
      users: { 'alice@contoso.example': { password: 'pw-alice', claims: { oid: '11111111-1111-4111-8111-111111111111', name: 'Alice', roles: ['requester'] } } },
    });
    signIn = createEntraSignIn({
      authority: entra.base,
      tenantId: entra.tenantId,
      clientId,
      credential: { clientSecret: 'portal-secret' },
      apiScope: `${entra.audience}/.default`,
      redirectUri,
      ca: entra.ca,
    });
  });
  afterAll(async () => {
    await entra.stop();
  });

  it('sends the browser to the authorize endpoint with PKCE (S256), a state and a nonce, and redeems the code it brings back for the API token', async () => {
    const { url, pending } = await signIn.begin();
    const asked = new URL(url).searchParams;
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(asked.get('state')).toBe(pending.state);
    expect(asked.get('nonce')).toBe(pending.nonce);
    expect(asked.get('redirect_uri')).toBe(redirectUri);
    expect(url).not.toContain(pending.codeVerifier);
    const back = await submitLoginForm(url, entra.ca, 'alice@contoso.example', 'pw-alice');
    expect(back.searchParams.get('state')).toBe(pending.state);
    const { accessToken } = await signIn.complete(back.searchParams.get('code') as string, pending);
    expect(decodeJwt(accessToken)).toMatchObject({ aud: entra.audience, oid: '11111111-1111-4111-8111-111111111111', roles: ['requester'] });
  });

  it('refuses a code redeemed with another sign-in’s verifier or nonce, and a code used twice', async () => {
    const first = await signIn.begin();
    const other = await signIn.begin();
    const back = await submitLoginForm(first.url, entra.ca, 'alice@contoso.example', 'pw-alice');
    const code = back.searchParams.get('code') as string;
    await expect(signIn.complete(code, other.pending)).rejects.toMatchObject({ message: expect.stringMatching(/AADSTS501481|Code_Verifier/) });
    const again = await submitLoginForm(first.url, entra.ca, 'alice@contoso.example', 'pw-alice');
    await expect(signIn.complete(again.searchParams.get('code') as string, { ...first.pending, nonce: other.pending.nonce })).rejects.toMatchObject({
      message: expect.stringMatching(/nonce/i),
    });
    await expect(signIn.complete(code, first.pending)).rejects.toMatchObject({ message: expect.stringMatching(/AADSTS70008/) });
  });

  it('asks for an authentication context with a claims challenge, and the token carries it (step-up)', async () => {
    const { url, pending } = await signIn.begin({ authContext: 'c1' });
    expect(JSON.parse(new URL(url).searchParams.get('claims') as string)).toMatchObject({ access_token: { acrs: { essential: true, value: 'c1' } } });
    const back = await submitLoginForm(url, entra.ca, 'alice@contoso.example', 'pw-alice');
    const { accessToken } = await signIn.complete(back.searchParams.get('code') as string, pending);
    expect(decodeJwt(accessToken).acrs).toEqual(['c1']);
  });
});
