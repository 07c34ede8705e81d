import crypto from 'node:crypto';
import { KeyLike, SignJWT } from 'jose';

export type AgentClaims = Partial<Record<'iss' | 'sub' | 'aud' | 'jti', string>> & { iat?: number; exp?: number };

/** The JWT a device agent signs for one request (ES256, its enrolled key; a minute by default). */
export function signAgentToken(deviceId: string, privateKey: KeyLike, claims: AgentClaims = {}, now: Date = new Date()): Promise<string> {
  const iat = claims.iat ?? Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setIssuer(claims.iss ?? deviceId)
    .setSubject(claims.sub ?? deviceId)
    .setAudience(claims.aud ?? 'jitbroker-agent')
    .setIssuedAt(iat)
    .setExpirationTime(claims.exp ?? iat + 60)
    .setJti(claims.jti ?? crypto.randomUUID())
    .sign(privateKey);
}
