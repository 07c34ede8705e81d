import { z } from 'zod';
import { durationForm, parseDurationSeconds } from '../time/duration';
import { vaultBackendNames } from '../vault/vault-registry';
import { roles } from '../identity/principal';
import { webhookEvents } from '../webhooks/webhook-service';

const duration = z.string().refine((v) => parseDurationSeconds(v) !== undefined, { message: `not a valid duration; accepted: ${durationForm}` });

// 0 asks the system for any free port (the listening log line names the one chosen).
const port = z.number({ invalid_type_error: 'not a number; accepted: an integer from 0 to 65535' }).int().min(0).max(65535);

const passwordPolicy = z
  .object({
    kind: z.enum(['random', 'passphrase']),
    length: z.number().int().min(12).max(128),
    classes: z.array(z.enum(['upper', 'lower', 'digit', 'symbol'])).min(1),
    excludeLookAlikes: z.boolean(),
    words: z.number().int().min(4).max(16),
    separator: z.string().max(3),
    capitalize: z.boolean(),
    digit: z.boolean(),
  })
  .strict();

export const configSchema = z
  .object({
    http: z
      .object({
        host: z.string().min(1).describe('an IP address or host name to listen on'),
        port,
        allowInsecure: z.boolean(),
        tls: z
          .object({ cert: z.string().min(1), key: z.string().min(1) })
          .strict()
          .optional(),
        // Hops of proxies whose X-Forwarded-For is believed (0: none; the socket address is the client).
        trustProxy: z.number().int().min(0).max(10),
        rateLimits: z
          .object({
            windowSeconds: z.number().int().min(1).max(3600),
            requestsPerAddress: z.number().int().min(1),
            authFailuresPerAddress: z.number().int().min(1),
            grantRequestsPerPrincipal: z.number().int().min(1),
            revealsPerPrincipal: z.number().int().min(1),
          })
          .strict(),
      })
      .strict(),
    dataDir: z.string().min(1),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), pretty: z.boolean() }).strict(),
    store: z
      .object({
        driver: z.enum(['sqlite']),
        url: z.string().min(1).optional(),
        // Appends waiting together share one durable commit; this bounds one batch.
        maxBatch: z.number().int().min(1).max(10000),
        maxBatchMs: z.number().int().min(1).max(1000),
        // Where WAL checkpoints run: inside the committing transaction (SQLite's default) or in a worker thread.
        checkpoint: z.enum(['inline', 'worker']),
      })
      .strict(),
    vault: z.object({ backend: z.enum(vaultBackendNames) }).strict(),
    identity: z
      .object({
        mode: z.enum(['local']),
        clockSkewSeconds: z.number().int().min(0).max(300),
        // Verified tokens are remembered (by hash) for at most maxAge; 0 entries turns it off.
        verifyCache: z.object({ maxEntries: z.number().int().min(0).max(1_000_000), maxAge: duration }).strict(),
        local: z.object({ issuer: z.string().min(1), audience: z.string().min(1), tokenTtl: duration }).strict(),
      })
      .strict(),
    rotation: z
      .object({
        maxAge: duration,
        postUseDelay: duration,
        ackTimeout: duration,
        history: z.number().int().min(1).max(100),
        // Each next due time is pulled earlier by up to this fraction of maxAge, so a fleet enrolled together spreads out.
        jitter: z.number().min(0).max(0.5),
        concurrency: z.number().int().min(1).max(256),
        workerSeconds: z.number().int().min(1).max(60),
        scanSeconds: z.number().int().min(1).max(60),
        retry: z.object({ base: duration, max: duration, flagAfter: z.number().int().min(1).max(100) }).strict(),
      })
      .strict(),
    password: passwordPolicy,
    passwordByGroup: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), passwordPolicy.partial().strict()),
    audit: z
      .object({
        // A signed checkpoint of the chain head after this many events or this long, whichever comes first.
        checkpoint: z.object({ everyEvents: z.number().int().min(1).max(1_000_000), every: duration }).strict(),
        // Start even though the database is behind its last signed checkpoint (after restoring a backup on purpose).
        acceptRollback: z.boolean(),
      })
      .strict(),
    escalations: z
      .object({
        allowedRoles: z.array(z.enum(roles)).min(1),
        allowedGroups: z.array(z.string().min(1).max(256)),
        categories: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'a lowercase category name'), z.string().min(1)),
        destinations: z.record(z.string().min(1), z.string().min(1).max(200)),
      })
      .strict()
      .superRefine((e, ctx) => {
        for (const [category, destination] of Object.entries(e.categories)) {
          if (!(destination in e.destinations)) {
            ctx.addIssue({
              code: 'custom',
              path: ['categories', category],
              message: `routes to '${destination}', which is not one of escalations.destinations (${Object.keys(e.destinations).join(', ')})`,
            });
          }
        }
      }),
    webhooks: z
      .object({
        endpoints: z.array(
          z
            .object({
              url: z
                .string()
                .url()
                .refine((u) => /^https?:\/\//.test(u), 'an http(s) URL'),
              events: z.array(z.enum(webhookEvents)).min(1),
              secret: z.string().min(16, 'at least 16 characters').optional(),
            })
            .strict(),
        ),
        maxAttempts: z.number().int().min(1).max(100),
        retryBase: duration,
        retryMax: duration,
        timeoutSeconds: z.number().int().min(1).max(60),
        intervalSeconds: z.number().int().min(1).max(60),
      })
      .strict(),
    agent: z.object({ audience: z.string().min(1), maxTokenLifetimeSeconds: z.number().int().min(10).max(300) }).strict(),
    shutdownGraceSeconds: z.number().int().min(0).max(600),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
