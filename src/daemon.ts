import { Config } from './config/config-schema';
import { Services, createServices } from './app';
import { refuseRolledBack } from './audit/audit-rollback';
import { createHttpApp } from './http/http-app';
import { listenHttp } from './http/http-server';
import { Infra, InfraInputs, openInfra } from './infra';
import { createScheduler, scheduleJobs } from './scheduler/jobs';
import { checkStartup, warnAtStartup } from './startup/startup-checks';
import { StartupRefused } from './startup/startup-refused';
import { SchemaBehindBuild, SchemaNewerThanBuild } from './store/database';
import { withJobLock } from './store/job-lock';
import { storeOutageCode } from './store/store-fault';

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

/**
 * Every failure before the daemon listens as the one refusal type (exit 2: restarting cannot fix
 * a key file, a setting or a schema); a single reason keeps its message on the refusal's line. A
 * store outage (a busy lock, a full disk, a lost connection) is not one: it may pass, so it stays
 * an error (exit 1) and the service manager starts the daemon again.
 */
function asRefusal(e: unknown): unknown {
  if (e instanceof StartupRefused || storeOutageCode(e) !== undefined) return e;
  return new StartupRefused(e instanceof Error ? e.message : String(e), undefined, { cause: e });
}

/** The start-up steps that need the store; before listening, or once a store that was down at start answers. */
async function prepare(config: Config, infra: Infra, services: Services): Promise<void> {
  // A store and a vault that cannot be used stop the daemon here, not at the first reveal.
  try {
    await services.ready();
  } catch (e) {
    throw new StartupRefused([`not ready: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const { checkpoints, audit, transactor } = services;
  await refuseRolledBack({ checkpoints, audit, transactor, logger: infra.logger, acceptRollback: config.audit.acceptRollback });
  // SQLite has one daemon: any claim on a rotation job is from its own previous run. On PostgreSQL a
  // claim may be another live daemon's: it is left alone, and taken over only when its lease runs out.
  if (config.store.driver === 'sqlite') await services.rotations.releaseClaimsOfDeadRun();
}

/**
 * Starts the daemon: store, services, HTTP and the scheduled jobs; `stop()` drains and closes. A
 * start it refuses throws StartupRefused, after closing what it had opened.
 */
export async function startDaemon(config: Config, outside: InfraInputs): Promise<RunningDaemon> {
  const refusals = checkStartup(config);
  if (refusals.length > 0) throw new StartupRefused(refusals);
  const refuse = (e: unknown): never => {
    throw asRefusal(e);
  };
  const infra = await openInfra(config, outside).catch(refuse);
  const { logger } = infra;
  const closeAndRefuse = async (e: unknown): Promise<never> => {
    await infra.close();
    return refuse(e);
  };
  const services = await createServices(config, infra).catch(closeAndRefuse);
  if (!infra.storeReady) await prepare(config, infra, services).catch(closeAndRefuse);
  warnAtStartup(config, logger);
  let started = !infra.storeReady;
  // Not ready until the start-up steps ran: a store that answers again is not enough by itself.
  const ready = async () => {
    await services.ready();
    if (!started) throw new Error('the daemon is still starting: its start-up checks run once the store answers');
  };
  const app = createHttpApp({
    ...services,
    logger,
    ready,
    serving: () => started,
    httpSettings: { trustProxy: config.http.trustProxy, rateLimits: config.http.rateLimits, publicOrigin: config.portal.publicOrigin },
  });
  const server = await listenHttp(app, config.http).catch(async (e: unknown) => {
    // Not a refusal (exit 1): a port in use may be free again when the service manager restarts it.
    await services.transactor.drain();
    await infra.close();
    throw e;
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
  const { url } = server;
  logger.info({ url, dataDir: config.dataDir, vault: config.vault.backend, identity: config.identity.mode }, 'jitbroker listening');

  let stopping: Promise<void> | undefined;
  async function stop(): Promise<void> {
    stopping ??= (async () => {
      scheduler?.stop();
      await server.close(config.shutdownGraceSeconds);
      await services.transactor.drain();
      await infra.close();
      logger.info('jitbroker stopped');
    })();
    return stopping;
  }
  // The store was down at start: the daemon listens (healthz 200, readyz 503) and finishes starting once it answers.
  const refusedLate = new Promise<StartupRefused>((resolve) => {
    infra.storeReady
      ?.then(() => prepare(config, infra, services))
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
