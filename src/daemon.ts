import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { AddressInfo } from 'node:net';
import { Config } from './config/config-schema';
import { Infra, createServices, openInfra } from './app';
import { answerClientError } from './http/client-error';
import { isLoopbackHost } from './network/loopback';
import { createHttpApp } from './http/http-app';
import { serverClasses } from './http/server-classes';
import { createScheduler, scheduleJobs } from './scheduler/jobs';
import { withJobLock } from './store/job-lock';
import { SchemaBehindBuild, SchemaNewerThanBuild } from './store/database';

/** Settings the daemon refuses to start with, one line each. */
export class StartupRefused extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'StartupRefused';
  }
}

/** What is wrong with a readable certificate and key, one line each (never the key's bytes). */
function checkTlsPair(files: { cert: string; key: string }): string[] {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = fs.readFileSync(files.cert);
    key = fs.readFileSync(files.key);
  } catch (e) {
    // Readable by access(2) yet not as a file: a directory, say.
    return [`http.tls ${files.cert}, ${files.key}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); accepted: readable PEM files`];
  }
  const refused = (options: { cert?: Buffer; key?: Buffer }): string | undefined => {
    try {
      tls.createSecureContext(options);
      return undefined;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? 'error';
    }
  };
  const lines: string[] = [];
  const certError = refused({ cert });
  if (certError) lines.push(`http.tls.cert ${files.cert}: not a usable PEM certificate (${certError}); accepted: a PEM certificate, optionally followed by its chain`);
  const keyError = refused({ key });
  if (keyError) lines.push(`http.tls.key ${files.key}: not a usable PEM private key (${keyError}); accepted: an unencrypted PEM private key`);
  if (lines.length > 0) return lines;
  const pairError = refused({ cert, key });
  if (pairError)
    lines.push(`http.tls.key ${files.key}: does not match the certificate in http.tls.cert ${files.cert} (${pairError}); accepted: the private key of that certificate`);
  return lines;
}

/** Refusals that must stop the daemon before it listens. */
export function checkStartup(config: Config): string[] {
  const problems: string[] = [];
  const tlsProblems: string[] = [];
  for (const [key, file] of Object.entries(config.http.tls ?? {})) {
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      tlsProblems.push(`http.tls.${key} ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); accepted: a readable PEM file`);
    }
  }
  // Readable is not enough: a file that is not PEM, or a key of another certificate, would make
  // https.createServer throw only after the store and the services were opened.
  if (config.http.tls && tlsProblems.length === 0) tlsProblems.push(...checkTlsPair(config.http.tls));
  problems.push(...tlsProblems);
  const caFile = config.identity.mode === 'oidc' ? config.identity.oidc.caFile : undefined;
  if (caFile) {
    try {
      if (!fs.readFileSync(caFile, 'utf8').includes('-----BEGIN CERTIFICATE-----')) {
        problems.push(`identity.oidc.caFile ${caFile}: holds no PEM certificate; accepted: a PEM file of the CA certificates to trust for the identity provider`);
      }
    } catch (e) {
      problems.push(`identity.oidc.caFile ${caFile}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); accepted: a readable PEM file`);
    }
  }
  const loopback = isLoopbackHost(config.http.host);
  if (config.identity.mode === 'local' && !loopback) {
    problems.push(`identity.mode 'local' is for one host: it is refused on the non-loopback address ${config.http.host}; use identity.mode 'oidc' or http.host 127.0.0.1`);
  }
  if (!loopback && !config.http.tls && !config.http.allowInsecure) {
    problems.push(`http.host ${config.http.host} is not loopback and http.tls is not set; configure http.tls.cert/key or set http.allowInsecure`);
  }
  return problems;
}

export interface RunningDaemon {
  url: string;
  stop(): Promise<void>;
  /**
   * Settles only if start-up checks that had to wait for the store (PostgreSQL down at start) refuse
   * once it answers (a schema this build cannot use, an audit log that went back in time): the
   * daemon has stopped by then, and the caller exits as for any refused start.
   */
  refusedLate: Promise<StartupRefused>;
}

/** Starts the daemon: store, services, HTTP and the scheduled jobs; `stop()` drains and closes. */
export async function startDaemon(config: Config, infraOverrides: Partial<Pick<Infra, 'clock' | 'logger'>> = {}): Promise<RunningDaemon> {
  const refusals = checkStartup(config);
  if (refusals.length > 0) throw new StartupRefused(refusals);
  const infra = await openInfra(config, infraOverrides);
  const { logger } = infra;
  const services = await createServices(config, infra);
  // The database must still hold the last checkpoint signed beside it: otherwise it went back in time.
  const refuseRolledBack = async () => {
    const rolledBack = await services.checkpoints.checkNotRolledBack();
    if (!rolledBack) return;
    if (!config.audit.acceptRollback) throw new StartupRefused([`${rolledBack}; restore the newer database, or set audit.acceptRollback to start anyway (audited)`]);
    logger.error({ problem: rolledBack }, 'starting on an audit log that went back in time (audit.acceptRollback)');
    await services.transactor.run((tx) =>
      services.audit.append(tx, { actor: { kind: 'system', subject: 'audit' }, action: 'audit.rollback-accepted', outcome: 'failure', reason: rolledBack }),
    );
    await services.checkpoints.checkpointNow();
  };
  /** The start-up steps that need the store; before listening, or once a store that was down at start answers. */
  const prepare = async () => {
    // A store and a vault that cannot be used stop the daemon here, not at the first reveal.
    try {
      await services.ready();
    } catch (e) {
      throw new StartupRefused([`not ready: ${e instanceof Error ? e.message : String(e)}`]);
    }
    await refuseRolledBack();
    // SQLite has one daemon: any claim on a rotation job is from its own previous run. On PostgreSQL a
    // claim may be another live daemon's: it is left alone, and taken over only when its lease runs out.
    if (config.store.driver === 'sqlite') await services.rotations.releaseClaimsOfDeadRun();
  };
  if (!infra.storeReady) {
    try {
      await prepare();
    } catch (e) {
      await infra.close();
      throw e;
    }
  }
  if (!isLoopbackHost(config.http.host) && !config.http.tls) {
    logger.warn(
      { host: config.http.host },
      'serving plain HTTP on a non-loopback address (http.allowInsecure): tokens and passwords cross the network unencrypted unless a TLS proxy sits in front',
    );
  }
  if (config.identity.mode === 'local') {
    logger.warn("identity.mode is local: tokens are signed by this daemon's own key (development and single-host use only)");
  }
  let started = !infra.storeReady;
  // Not ready until the start-up steps ran: a store that answers again is not enough by itself.
  const ready = async () => {
    await services.ready();
    if (!started) throw new Error('the daemon is still starting: its start-up checks run once the store answers');
  };
  const app = createHttpApp({ ...services, logger, ready, serving: () => started, httpSettings: { trustProxy: config.http.trustProxy, rateLimits: config.http.rateLimits } });
  // Slow clients cannot hold sockets open: headers within http.headersTimeoutSeconds, the whole
  // request within http.requestTimeoutSeconds (then 408 and the socket closes). Node enforces both
  // only when it sweeps the connections (every 30 s by default): sweep often enough that a timeout
  // is overrun by a quarter at most.
  const timeouts = {
    headersTimeout: config.http.headersTimeoutSeconds * 1000,
    requestTimeout: config.http.requestTimeoutSeconds * 1000,
    connectionsCheckingInterval: Math.max(250, (config.http.headersTimeoutSeconds * 1000) / 4),
  };
  // Requests and responses born with express's prototypes (src/http/server-classes.ts).
  const options = { ...timeouts, ...serverClasses(app) };
  const server = config.http.tls
    ? https.createServer({ cert: fs.readFileSync(config.http.tls.cert), key: fs.readFileSync(config.http.tls.key), ...options }, app)
    : http.createServer(options, app);
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  // On PostgreSQL several daemons may share the store: each scheduled job runs on one of them per tick.
  const lock = config.store.driver === 'postgres' ? (name: string, run: () => Promise<unknown>) => withJobLock(infra.db, name, run) : undefined;
  const startJobs = () =>
    scheduleJobs(createScheduler(logger, lock), services, {
      rotationWorkerSeconds: config.rotation.workerSeconds,
      rotationScanSeconds: config.rotation.scanSeconds,
      webhookSeconds: config.webhooks.intervalSeconds,
    });
  let scheduler = infra.storeReady ? undefined : startJobs();
  const address = server.address() as AddressInfo;
  const url = `${config.http.tls ? 'https' : 'http'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger.info({ url, dataDir: config.dataDir, vault: config.vault.backend, identity: config.identity.mode }, 'jitbroker listening');

  let stopping: Promise<void> | undefined;
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      scheduler?.stop();
      // Stop taking connections, let requests in flight finish, then close idle keep-alive sockets.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.shutdownGraceSeconds * 1000);
      await closed;
      clearTimeout(grace);
      await services.transactor.drain();
      await infra.close();
      logger.info('jitbroker stopped');
    })();
    return stopping;
  }
  // The store was down at start: the daemon listens (healthz 200, readyz 503) and finishes starting once it answers.
  const refusedLate = new Promise<StartupRefused>((resolve) => {
    infra.storeReady
      ?.then(prepare)
      .then(() => {
        if (stopping) return;
        scheduler = startJobs();
        started = true;
        logger.info('jitbroker ready: the store answers');
      })
      .catch(async (e: unknown) => {
        if (stopping) return;
        const refusal =
          e instanceof StartupRefused
            ? e
            : new StartupRefused([
                e instanceof SchemaNewerThanBuild || e instanceof SchemaBehindBuild ? e.message : `cannot use the store: ${e instanceof Error ? e.message : String(e)}`,
              ]);
        logger.fatal({ problem: refusal.lines }, 'refusing to start');
        await stop().catch(() => undefined);
        resolve(refusal);
      });
  });
  return { url, stop, refusedLate };
}
