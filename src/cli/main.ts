#!/usr/bin/env node
import { Command } from 'commander';
import { agentCommand } from './agent-command';
import { auditCommand } from './audit-commands';
import { deviceCommand } from './device-commands';
import { escalationCommand } from './escalation-commands';
import { grantCommand } from './grant-commands';
import { policyCommand } from './policy-commands';
import { StartupRefused } from '../startup/startup-refused';
import { CliError } from './cli-error';
import { serveCommand, tokenCommand } from './serve-command';
import { migrateCommand, storeCommand } from './store-commands';

/** The `jitbroker` program: the daemon, local tokens, the API's clients and the device agent. */
export function buildProgram(): Command {
  const program = new Command('jitbroker')
    .description('Just-in-time elevation credential broker')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError();
  program.addCommand(serveCommand());
  program.addCommand(migrateCommand());
  program.addCommand(storeCommand());
  program.addCommand(tokenCommand());
  program.addCommand(deviceCommand());
  program.addCommand(policyCommand());
  program.addCommand(grantCommand());
  program.addCommand(auditCommand());
  program.addCommand(escalationCommand());
  program.addCommand(agentCommand());
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
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
