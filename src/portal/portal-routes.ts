import { z } from 'zod';
import { RouteGroup, route } from '../http/route';
import { roles } from '../identity/principal';
import { SignInService, sessionCookie, signInCookie, signInSeconds } from './sign-in-service';

/** What the portal's sign-in routes call. */
export type PortalRouteService = Pick<SignInService, 'current' | 'devSignIn' | 'begin' | 'finish' | 'signOut'>;

const principalView = z.object({ subject: z.string(), name: z.string().optional(), roles: z.array(z.enum(roles)), groups: z.array(z.string()) });
const signedOut = z.object({ signedIn: z.literal(false), identityMode: z.string(), signInPath: z.string() });
const signedIn = z.object({ signedIn: z.literal(true), identityMode: z.string(), principal: principalView, csrfToken: z.string(), expiresAt: z.string() });
const sessionView = z.union([signedIn, signedOut]);

/**
 * Where a sign-in may send the browser back to: a path on this origin only. `//host` and `/\host`
 * are other hosts to a browser, and a control character could end the Location header.
 */
const returnTo = z
  .string()
  .max(2048)
  .refine((v) => v.startsWith('/') && !v.includes('//') && !v.includes('\\') && ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), {
    message: 'not a path on this site; accepted: a path starting with one /, with no // and no backslash',
  });

const signInQuery = z
  .object({
    returnTo: returnTo.default('/'),
    authContext: z
      .string()
      .regex(/^c([1-9]|[1-9][0-9])$/, 'not an authentication context id; accepted: c1 to c99')
      .optional(),
  })
  .strict();

// What Entra sends back (code, state, session_state; or error, error_description): unknown members are dropped.
const callbackQuery = z.object({ code: z.string().max(8192).optional(), state: z.string().max(512).optional(), error: z.string().max(256).optional() });

const name = z.string().max(256);
const devSignInBody = z
  .object({
    subject: name.refine((v) => v.trim() !== '', { message: 'must not be blank; accepted: 1 to 256 characters' }),
    name: name.min(1).optional(),
    roles: z.array(z.enum(roles)).max(roles.length),
    groups: z.array(name.min(1)).max(200),
  })
  .strict();

const noBody = { description: 'Redirected (Location), no body' };

/**
 * The portal's sign-in, a backend-for-frontend: the browser holds a session cookie and nothing
 * else. Mounted one route at a time, like the operator endpoints: the session read and the
 * sign-in itself are public (a signed-out visitor is no authentication failure), signing out takes
 * the session cookie with the CSRF checks of any cookie request.
 */
export function portalRoutes(s: PortalRouteService): RouteGroup {
  return {
    prefix: '/auth',
    routes: [
      route({
        method: 'get',
        path: '/auth/session',
        summary: 'Who the session cookie signs in, and its CSRF token (never 401)',
        roles: 'public',
        responses: { 200: { description: 'Signed in, or not', json: sessionView } },
        problems: ['unavailable'],
        handle: async ({ cookies }) => {
          const view = await s.current(cookies[sessionCookie]);
          // A cookie that signs nobody in any more (signed out, timed out) is cleared.
          const stale = cookies[sessionCookie] !== undefined && !view.signedIn;
          return { status: 200, noStore: true, body: view, ...(stale ? { cookies: { [sessionCookie]: { value: null, sameSite: 'strict' } } } : {}) };
        },
      }),
      route({
        method: 'delete',
        path: '/auth/session',
        summary: 'Sign out: the session ends on the server',
        roles: 'user',
        responses: { 204: { description: 'Signed out; the cookie cleared' } },
        handle: async ({ caller, cookies, context }) => {
          // The session middleware let this through only with a live session cookie, its Origin and CSRF token.
          await s.signOut(cookies[sessionCookie] as string, caller, context);
          return { status: 204, noStore: true, cookies: { [sessionCookie]: { value: null, sameSite: 'strict' } } };
        },
      }),
      route({
        method: 'post',
        path: '/auth/dev-session',
        summary: 'Development sign-in as anyone (identity.mode local only; 404 otherwise)',
        roles: 'public',
        body: devSignInBody,
        responses: { 200: { description: 'Signed in; the session cookie set', json: signedIn } },
        problems: ['invalid-request', 'forbidden', 'not-found', 'unsupported-media-type', 'unavailable'],
        handle: async ({ body, cookies, context }) => {
          const { id, view } = await s.devSignIn(body, cookies[sessionCookie], context);
          return { status: 200, noStore: true, body: view, cookies: { [sessionCookie]: { value: id, sameSite: 'strict' } } };
        },
      }),
      route({
        method: 'get',
        path: '/auth/sign-in',
        summary: 'Start signing in (a browser navigation): to Entra, or to the development sign-in page',
        roles: 'public',
        query: signInQuery,
        responses: { 302: noBody },
        problems: ['invalid-request', 'unavailable'],
        handle: async ({ query, cookies }) => {
          const { location, state } = await s.begin(query.returnTo, query.authContext, cookies[sessionCookie]);
          // Lax, not Strict: it must come back on Entra's redirect to the callback, a cross-site navigation.
          const binding = state ? { cookies: { [signInCookie]: { value: state, sameSite: 'lax' as const, maxAgeSeconds: signInSeconds } } } : {};
          return { status: 302, noStore: true, redirect: location, ...binding };
        },
      }),
      route({
        method: 'get',
        path: '/auth/callback',
        summary: "Entra's redirect back: the session cookie set, then on to where the sign-in began",
        roles: 'public',
        query: callbackQuery,
        responses: { 303: noBody },
        problems: ['invalid-request', 'unavailable'],
        handle: async ({ query, cookies, context }) => {
          const done = await s.finish(query, cookies[signInCookie], cookies[sessionCookie], context);
          const cleared = { [signInCookie]: { value: null, sameSite: 'lax' as const } };
          if (!done.ok) return { status: 303, noStore: true, redirect: `/signed-out?error=${done.failure}`, cookies: cleared };
          return { status: 303, noStore: true, redirect: done.returnTo, cookies: { ...cleared, [sessionCookie]: { value: done.id, sameSite: 'strict' as const } } };
        },
      }),
    ],
  };
}
