import { Logger } from 'pino';
import { Config } from './config/config-schema';
import { createLogger } from './logging/logger';
import { ensurePrivateDir } from './store/database';
import { OpenStore, openStore } from './store/open-store';
import { Clock, systemClock } from './time/clock';

/** What the composition root builds on: the opened store, the clock, the logger and the process's environment. */
export interface Infra extends OpenStore {
  clock: Clock;
  logger: Logger;
  /** Read by the entry point and handed down: nothing below it reads process.env. */
  env: NodeJS.ProcessEnv;
}

/** What the entry point hands in: the environment it read; tests add a clock and a logger of their own. */
export interface InfraInputs {
  env: NodeJS.ProcessEnv;
  clock?: Clock;
  logger?: Logger;
}

/** Opens the data dir, the logger and the store; `close()` closes the store. */
export async function openInfra(config: Config, outside: InfraInputs): Promise<Infra> {
  ensurePrivateDir(config.dataDir);
  const logger = outside.logger ?? createLogger(config.log);
  const store = await openStore(config, logger);
  return { ...store, clock: outside.clock ?? systemClock, logger, env: outside.env };
}
