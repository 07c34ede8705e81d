import pino, { Logger } from 'pino';
import type { Config } from '../config/config-schema';
import { redactPaths } from './redact-paths';

/** The daemon's logger: `log.level`, secrets redacted, pretty only when asked and installed. */
export function createLogger(settings: Config['log'], destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = { level: settings.level, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  if (settings.pretty) {
    // pino-pretty is a development dependency: a production install without it logs JSON instead of failing to start.
    let pretty = true;
    try {
      require.resolve('pino-pretty');
    } catch {
      pretty = false;
    }
    if (pretty) return pino({ ...options, transport: { target: 'pino-pretty' } });
    const logger = pino(options);
    logger.warn('log.pretty is set but pino-pretty is not installed (a development dependency): logging JSON');
    return logger;
  }
  return pino(options);
}
