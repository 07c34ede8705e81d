#!/usr/bin/env node
import { Command } from 'commander';
import { StartupRefused } from '../startup/startup-refused';
import { CliError } from './cli-error';

/**
 * Each command by name, its module loaded only when the command line names it: `agent run`, which
 * every device starts again and again, need not load the daemon's store, config and PostgreSQL
 * modules, nor a client command the agent's.
 */
const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve-command')).serveCommand(),
  migrate: async () => (await import('./store-commands')).migrateCommand(),
  store: async () => (await import('./store-commands')).storeCommand(),
  token: async () => (await import('./serve-command')).tokenCommand(),
  device: async () => (await import('./device-commands')).deviceCommand(),
  policy: async () => (await import('./policy-commands')).policyCommand(),
  grant: async () => (await import('./grant-commands')).grantCommand(),
  audit: async () => (await import('./audit-commands')).auditCommand(),
  escalation: async () => (await import('./escalation-commands')).escalationCommand(),
  agent: async () => (await import('./agent-command')).agentCommand(),
};

/**
 * The `jitbroker` program: the daemon, local tokens, the API's clients and the device agent. With
 * `only` naming a command, that command alone; otherwise all (the program's help, an unknown command).
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('jitbroker')
    .description('Just-in-time elevation credential broker')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError();
  const names = only !== undefined && Object.hasOwn(commands, only) ? [only] : Object.keys(commands);
  for (const name of names) program.addCommand(await (commands[name] as () => Promise<Command>)());
  return program;
}

if (require.main === module) {
  buildProgram(process.argv[2])
    .then((program) => program.parseAsync(process.argv))
    .catch((e: unknown) => {
      // A refused start (a setting, a file, a store it cannot use) is exit code 2: the systemd unit does not restart it.
      if (e instanceof StartupRefused) {
        console.error(`jitbroker: ${e.report()}`);
        process.exit(2);
      }
      console.error(`jitbroker: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(e instanceof CliError ? e.exitCode : 1);
    });
}
