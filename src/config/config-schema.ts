import { z } from 'zod';
import { durationSetting } from './duration-setting';
import { parseDurationSeconds } from '../time/duration';
import { credentialKinds, vaultBackendNames } from '../vault/vault-names';
import { roles } from '../identity/principal';
import { identityModes } from '../identity/identity-registry';
import { oidcConfigSchema, requireOidcSettings } from '../identity/oidc/oidc-config';
import { portalConfigSchema } from '../portal/portal-config';
import { webhookEvents } from '../webhooks/webhook-service';
import { webhookUrlProblem } from '../webhooks/webhook-target';

// Azure's vault domains (public, China, US Government, Managed HSM): the SDK's challenge check expects one of them.
const keyVaultHosts = ['.vault.azure.net', '.vault.azure.cn', '.vault.usgovcloudapi.net', '.managedhsm.azure.net'];

const duration = durationSetting;

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
        // A slow or stalled client loses its socket: headers must arrive within the first, the whole request within the second.
        headersTimeoutSeconds: z.number().int().min(1).max(600),
        requestTimeoutSeconds: z.number().int().min(1).max(3600),
        // How long an idle keep-alive connection stays open. Longer than the idle timeout of a proxy in
        // front (60 s in nginx and most load balancers): a proxy, or any client, that sends on a
        // connection the daemon is closing at that moment gets a broken request (a 502 from a proxy).
        keepAliveTimeoutSeconds: z.number().int().min(1).max(3600),
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
      .strict()
      .superRefine((h, ctx) => {
        if (h.headersTimeoutSeconds > h.requestTimeoutSeconds) {
          ctx.addIssue({
            code: 'custom',
            path: ['headersTimeoutSeconds'],
            message: `is longer than http.requestTimeoutSeconds (${h.requestTimeoutSeconds}); accepted: at most that`,
          });
        }
      }),
    dataDir: z.string().min(1),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), pretty: z.boolean() }).strict(),
    store: z
      .object({
        // sqlite: one daemon, store.url a file (default <dataDir>/jitbroker.db); postgres: several daemons may share store.url.
        driver: z.enum(['sqlite', 'postgres']),
        url: z.string().min(1).optional(),
        // Appends waiting together share one durable commit; this bounds one batch.
        maxBatch: z.number().int().min(1).max(10000),
        maxBatchMs: z.number().int().min(1).max(1000),
        // Where WAL checkpoints run: inside the committing transaction (SQLite's default) or in a worker thread.
        checkpoint: z.enum(['inline', 'worker']),
        // Inline: a commit that leaves this many pages in the WAL copies them back to the database file
        // (SQLite's wal_autocheckpoint; its own default is 1000). The copy and its fsync hold that commit.
        checkpointPages: z.number().int().min(16).max(100000),
        // SQLite: the database file may grow to this many MiB (its WAL aside), then writes fail as on a full
        // disk (503, logged, readiness 503) instead of filling the volume the daemon and its logs share.
        maxSizeMebibytes: z.number().int().min(1).max(16777216).optional(),
        // PostgreSQL: units batched into one transaction per commit (group), or a transaction each (unit).
        postgresCommit: z.enum(['group', 'unit']),
      })
      .strict()
      .superRefine((st, ctx) => {
        if (st.driver !== 'postgres') return;
        if (st.maxSizeMebibytes !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['maxSizeMebibytes'],
            message: 'applies to store.driver sqlite only; accepted: unset with postgres (size PostgreSQL by its own volume)',
          });
        }
        if (!st.url) {
          ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required with store.driver postgres; accepted: postgres://user[:password]@host[:port]/database' });
          return;
        }
        let ok = /^postgres(ql)?:\/\//i.test(st.url);
        try {
          ok = ok && new URL(st.url).pathname.length > 1;
        } catch {
          ok = false;
        }
        if (!ok) ctx.addIssue({ code: 'custom', path: ['url'], message: 'is not a PostgreSQL URL; accepted: postgres://user[:password]@host[:port]/database' });
      }),
    vault: z
      .object({
        backend: z.enum(vaultBackendNames),
        azure: z
          .object({
            // Required with backend azure-keyvault: https://{name}.vault.azure.net (or another Azure cloud's vault domain).
            url: z.string().url().optional(),
            credential: z
              .object({
                kind: z.enum(credentialKinds),
                // As @azure/identity accepts it (it throws on anything else): the directory's GUID or its domain name.
                tenantId: z
                  .string()
                  .regex(/^[0-9A-Za-z.-]+$/, "a tenant id: the directory's GUID or its domain name (contoso.onmicrosoft.com)")
                  .optional(),
                clientId: z.string().min(1).optional(),
                clientSecretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name'),
                certificatePath: z.string().min(1).optional(),
                // The identity library refuses anything but https (another cloud's login host, or the tests' local authority).
                authorityHost: z
                  .string()
                  .url()
                  .refine((u) => u.startsWith('https://'), 'an https URL (https://login.microsoftonline.us for another cloud)')
                  .optional(),
              })
              .strict(),
            // A PEM file of CAs to trust for the vault and token calls only (a private CA; the tests' server).
            caFile: z.string().min(1).optional(),
            // Only for a vault outside Azure's vault domains (the local test server): the daemon warns when it is set.
            disableChallengeResourceVerification: z.boolean(),
            secretPrefix: z.string().regex(/^[a-z][a-z0-9]{0,15}$/, 'a lowercase prefix of 1–16 letters and digits'),
            // Broker versions per Key Vault secret before the next generation's secret (backup refuses past 500 versions).
            versionsPerSecret: z.number().int().min(1).max(450),
            attemptTimeoutSeconds: z.number().min(0.05).max(120),
            deadlineSeconds: z.number().min(0.1).max(600),
            // A reveal waits on a read: it gives up sooner than a write, whose rotation is retried later anyway.
            readDeadlineSeconds: z.number().min(0.1).max(600),
            maxRetries: z.number().int().min(0).max(20),
            retryBaseMs: z.number().int().min(1).max(60000),
            retryMaxMs: z.number().int().min(1).max(600000),
            writesPer10Seconds: z.number().int().min(1).max(4000),
            readyCacheSeconds: z.number().int().min(0).max(300),
          })
          .strict(),
      })
      .strict()
      .superRefine((v, ctx) => {
        if (v.backend !== 'azure-keyvault') return;
        const url = v.azure.url;
        if (!url) {
          ctx.addIssue({ code: 'custom', path: ['azure', 'url'], message: 'is required with vault.backend azure-keyvault; accepted: https://{vault}.vault.azure.net' });
          return;
        }
        const u = new URL(url);
        if (u.protocol !== 'https:') ctx.addIssue({ code: 'custom', path: ['azure', 'url'], message: 'must be https' });
        else if (!v.azure.disableChallengeResourceVerification && !keyVaultHosts.some((h) => u.hostname.endsWith(h))) {
          ctx.addIssue({ code: 'custom', path: ['azure', 'url'], message: `is not a Key Vault host; accepted: a host under ${keyVaultHosts.join(', ')}` });
        }
      }),
    identity: z
      .object({
        mode: z.enum(identityModes),
        clockSkewSeconds: z.number().int().min(0).max(300),
        // Verified tokens are remembered (by hash) for at most maxAge; 0 entries turns it off.
        verifyCache: z.object({ maxEntries: z.number().int().min(0).max(1_000_000), maxAge: duration }).strict(),
        local: z.object({ issuer: z.string().min(1), audience: z.string().min(1), tokenTtl: duration }).strict(),
        oidc: oidcConfigSchema,
      })
      .strict()
      .superRefine((i, ctx) => {
        if (i.mode === 'oidc') requireOidcSettings(i.oidc, ctx);
      }),
    portal: portalConfigSchema,
    rotation: z
      .object({
        maxAge: duration,
        postUseDelay: duration,
        ackTimeout: duration,
        history: z.number().int().min(1).max(100),
        // Each next due time is pulled earlier by up to this fraction of maxAge, so a fleet enrolled together spreads out.
        jitter: z.number().min(0).max(0.5),
        concurrency: z.number().int().min(1).max(256),
        // Rotation jobs started per second at most (0: no cap): a fleet due at once must not crowd out requests.
        maxPerSecond: z.number().min(0).max(100000),
        workerSeconds: z.number().int().min(1).max(60),
        scanSeconds: z.number().int().min(1).max(60),
        // How long a worker holds the rotation jobs it claimed: a daemon that died lets them go after this.
        lease: duration,
        retry: z.object({ base: duration, max: duration, flagAfter: z.number().int().min(1).max(100) }).strict(),
      })
      .strict()
      .superRefine((r, ctx) => {
        // The worker claims jobs a page at a time; a page must start well within the lease it holds them by.
        const leaseSeconds = parseDurationSeconds(r.lease);
        if (r.maxPerSecond > 0 && leaseSeconds !== undefined && r.maxPerSecond * leaseSeconds < 2) {
          ctx.addIssue({
            code: 'custom',
            path: ['maxPerSecond'],
            message: `is too low for rotation.lease (${r.lease}): a claimed job would wait past its lease; accepted: 0, or at least 2 jobs per lease`,
          });
        }
      }),
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
        // Where a category not in `categories` goes: the organisation's existing support channel.
        defaultDestination: z.string().min(1),
      })
      .strict()
      .superRefine((e, ctx) => {
        if (!(e.defaultDestination in e.destinations)) {
          ctx.addIssue({
            code: 'custom',
            path: ['defaultDestination'],
            message: `'${e.defaultDestination}' is not one of escalations.destinations (${Object.keys(e.destinations).join(', ')})`,
          });
        }
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
              url: z.string().superRefine((u, ctx) => {
                const problem = webhookUrlProblem(u);
                if (problem) ctx.addIssue({ code: 'custom', message: problem });
              }),
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
