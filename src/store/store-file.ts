import path from 'node:path';
import type { Config } from '../config/config-schema';

/** The daemon's SQLite file: store.url, else jitbroker.db in the data dir. */
export function sqliteStoreFile(config: Pick<Config, 'dataDir' | 'store'>): string {
  return config.store.url ?? path.join(config.dataDir, 'jitbroker.db');
}
