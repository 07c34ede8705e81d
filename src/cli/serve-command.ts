import { Command } from 'commander';
import { Config } from '../config/config-schema';
import { loadConfig } from '../config/load-config';
import { serviceSettings } from '../config/settings';
import { armFailpoints } from '../failpoints/failpoint';
import { Role, roles } from '../identity/principal';
import { ensurePrivateDir } from '../store/database';
import { systemClock } from '../time/clock';
import { parseShortDurationSeconds } from '../time/duration';
import { CliError } from './cli-error';
import { list } from './client-command';

/** Loads and validates the configuration from the file and this process's environment; a bad value is a ConfigError (exit code 2, one line per bad key). */
export function configOrExit(file: string | undefined): Config {
  return loadConfig({ file, env: process.env });
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the daemon (HTTP API and scheduled jobs) until SIGTERM or SIGINT')
    .option('-c, --config <file>', 'a JSON or YAML config file, overlaid on config/default.json and under JITBROKER_* variables')
    .action(async (opts: { config?: string }) => {
      const config = configOrExit(opts.config);
      // Everything the daemon creates (database, WAL, key files) is private to its user.
      process.umask(0o077);
      // Loaded here, not at the top: every other command (and --help) starts without the daemon's modules.
      const { startDaemon } = await import('../daemon');
      armFailpoints(process.env.JITBROKER_FAILPOINTS);
      // A refused start (StartupRefused) is exit code 2 (main.ts).
      const running = await startDaemon(config, { env: process.env });
      void running.refusedLate.then((refusal) => {
        console.error(`jitbroker: ${refusal.report()}`);
        process.exit(2);
      });
      const stop = () => {
        running.stop().then(
          () => process.exit(0),
          (e: unknown) => {
            console.error(`jitbroker: shutdown failed: ${e instanceof Error ? e.message : String(e)}`);
            process.exit(1);
          },
        );
      };
      // A repeated signal while draining changes nothing: the grace period still bounds the stop.
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}

export function tokenCommand(): Command {
  return new Command('token')
    .description('print a bearer token signed by the local identity key (identity.mode local only)')
    .requiredOption('--sub <subject>', 'who the token is for')
    .option('--roles <roles>', `comma-separated roles: ${roles.join(', ')}`, '')
    .option('--groups <groups>', 'comma-separated groups policies designate', '')
    .option('--name <name>', 'display name')
    .option('--ttl <lifetime>', 'lifetime: 90s, 30m, 1h, 2d or ISO 8601 (default identity.local.tokenTtl)')
    .option('-c, --config <file>', 'config file (to find the data dir and identity settings)')
    .action(async (opts: { sub: string; roles: string; groups: string; name?: string; ttl?: string; config?: string }) => {
      const config = configOrExit(opts.config);
      if (config.identity.mode !== 'local') throw new CliError(`identity.mode is ${config.identity.mode}: tokens come from your identity provider, not from jitbroker token`);
      const wanted = list(opts.roles);
      const unknown = wanted.filter((r) => !(roles as readonly string[]).includes(r));
      if (unknown.length > 0) throw new CliError(`unknown role(s) ${unknown.join(', ')}; accepted: ${roles.join(', ')}`);
      if (opts.sub.trim() === '' || opts.sub.length > 256) throw new CliError('--sub must be 1 to 256 characters');
      const ttlSeconds = opts.ttl !== undefined ? parseShortDurationSeconds(opts.ttl) : serviceSettings(config).identity.local.tokenTtlSeconds;
      if (ttlSeconds === undefined) throw new CliError(`--ttl ${opts.ttl}: not a lifetime; accepted: 90s, 30m, 1h, 2d or an ISO 8601 duration`);
      ensurePrivateDir(config.dataDir);
      const { createLocalIdentity } = await import('../identity/local/local-identity');
      const { issueToken } = await createLocalIdentity({
        dataDir: config.dataDir,
        ...config.identity.local,
        clockSkewSeconds: config.identity.clockSkewSeconds,
        clock: systemClock,
      });
      const token = await issueToken({ sub: opts.sub, roles: wanted as Role[], groups: list(opts.groups), name: opts.name, ttlSeconds });
      process.stdout.write(token + '\n');
    });
}
