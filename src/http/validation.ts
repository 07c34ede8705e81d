import crypto from 'node:crypto';
import { z } from 'zod';
import { DomainError } from '../problems/problem';
import { durationForm, maxDurationText, parseDurationSeconds } from '../time/duration';

/** Parses input with a schema or throws `invalid-request` listing each bad field. */
export function parse<S extends z.ZodTypeAny>(schema: S, value: unknown, where: 'body' | 'query' | 'params'): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data as z.infer<S>;
  const errors = r.error.issues.map((i) => ({
    path: [where, ...i.path].join('.'),
    // zod's own wording for unknown keys is replaced; a schema's own message (agentKey's) is kept.
    message: i.code === 'unrecognized_keys' && i.message.startsWith('Unrecognized key') ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
  throw new DomainError('invalid-request', `The ${where} is not valid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
}

export const deviceId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a device id is 1–128 of A–Z a–z 0–9 . _ -, starting with a letter or digit');
export const groupName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a group name is 1–64 of A–Z a–z 0–9 . _ -');
export const subjectName = z.string().min(1).max(256);
export const uuid = z.string().uuid('not an id this server issued');
export const duration = z
  .string()
  .max(maxDurationText)
  .refine((v) => parseDurationSeconds(v) !== undefined, `must be ${durationForm}`);
// Control characters (C0 but tab, line feed and the CR of a CRLF; DEL; C1) and the bidi embeddings,
// overrides and isolates: never part of a reason or a name, and on an auditor's terminal or in a
// spreadsheet they forge text (ESC sequences, a line read backwards).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const forgingText = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]|\r(?!\n)/;

/**
 * Free text a person types: trimmed, 1 to `max` characters; tab and line breaks (LF or CRLF)
 * allowed, every other control character and the bidi overrides refused.
 */
export const shortText = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `at most ${max} characters`)
    .refine((v) => !forgingText.test(v), 'must not contain control characters (other than tab and line breaks) or bidi overrides');

/** Routes that take no body still refuse one with fields in it (an empty object is fine). */
export const emptyBody = z.object({}).strict();

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional(),
};

/** The answer of a list route: a page of items and the cursor of the next (null on the last). */
export const page = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

/** A public EC P-256 JWK: the device agent's verification key, never a private one. */
export const agentKey = z
  .object({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a base64url P-256 coordinate'),
    y: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a base64url P-256 coordinate'),
    kid: z.string().max(128).optional(),
    alg: z.literal('ES256').optional(),
    use: z.literal('sig').optional(),
  })
  // A private part (d), or anything else, is refused: only the public key may be enrolled.
  .strict('agentKey must be a public EC P-256 key: only kty, crv, x, y, kid, alg and use; a private part (d) is refused')
  .refine(
    (k) => {
      try {
        crypto.createPublicKey({ key: { kty: k.kty, crv: k.crv, x: k.x, y: k.y }, format: 'jwk' });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'agentKey is not a point on P-256' },
  );
