import { Command } from 'commander';
import pino from 'pino';
import { createDeviceAgent } from '../agent/device-agent';
import { generateDeviceKey, loadDeviceKey } from '../agent/device-key';
import { SetterName, passwordSetters, setterNames } from '../agent/password-setter';
import { armFailpoints } from '../failpoints/failpoint';
import { redactPaths } from '../logging/redact-paths';
import { backoffDelay } from '../time/backoff';
import { parseShortDurationSeconds } from '../time/duration';
import { CliError } from './cli-error';

export function agentCommand(): Command {
  const cmd = new Command('agent').description('the device agent: holds the device key, sets each new password, acknowledges it');
  cmd.addCommand(
    new Command('keygen')
      .description('make the device key pair: writes the private key (mode 0600), prints the public JWK to enrol')
      .requiredOption('--key <file>', 'where to write the private key')
      .action(async (o: { key: string }) => {
        console.log(JSON.stringify(await generateDeviceKey(o.key)));
      }),
  );
  cmd.addCommand(
    new Command('run')
      .description('poll the broker for a pending password, set it on the device, acknowledge it')
      .requiredOption('--device-id <id>', 'the id the device was enrolled with')
      .requiredOption('--key <file>', 'the private key made by agent keygen')
      .requiredOption('--setter <setter>', `how to set the password: ${setterNames.join(' | ')}`)
      .option('--url <url>', 'the broker (default $JITBROKER_URL or http://127.0.0.1:7800)')
      .option('--file <path>', 'file setter: the simulated device password file')
      .option('--setter-command <path>', 'windows/linux setter: the program to run instead of powershell.exe / chpasswd')
      .option('--account <name>', 'set this account instead of the one enrolled')
      .option('--audience <aud>', 'the broker agent audience (agent.audience)', 'jitbroker-agent')
      .option('--interval <lifetime>', 'time between polls: 30s, 5m, …', '30s')
      .option('--max-backoff <lifetime>', 'longest wait after repeated failures', '10m')
      .option('--state <file>', 'where the agent records the version it set (default <key>.state)')
      .option('--once', 'poll once and exit (0 when done or idle, 1 on failure)')
      .action(
        async (o: {
          deviceId: string;
          key: string;
          setter: string;
          url?: string;
          file?: string;
          setterCommand?: string;
          account?: string;
          audience: string;
          interval: string;
          maxBackoff: string;
          state?: string;
          once?: boolean;
        }) => {
          if (!(setterNames as string[]).includes(o.setter)) throw new CliError(`--setter ${o.setter}: accepted: ${setterNames.join(' | ')}`, 2);
          // At most a day: a longer wait overflows node's timers (24.8 days), which then fire at once, and
          // an agent that waits longer than rotation.ackTimeout leaves every rotation of its device unacknowledged.
          const interval = parseShortDurationSeconds(o.interval, 86400);
          const maxBackoff = parseShortDurationSeconds(o.maxBackoff, 86400);
          if (interval === undefined || maxBackoff === undefined) throw new CliError('--interval and --max-backoff take a lifetime of at most 1d such as 30s, 5m or PT1M', 2);
          armFailpoints(process.env.JITBROKER_FAILPOINTS);
          const logger = pino({ redact: { paths: redactPaths, censor: '[redacted]' } }, pino.destination(2));
          const agent = createDeviceAgent({
            url: o.url ?? process.env.JITBROKER_URL ?? 'http://127.0.0.1:7800',
            deviceId: o.deviceId,
            key: await loadDeviceKey(o.key),
            setter: passwordSetters[o.setter as SetterName]({ file: o.file, command: o.setterCommand }),
            stateFile: o.state ?? `${o.key}.state`,
            audience: o.audience,
            account: o.account,
            logger,
          });
          if (o.once) {
            const outcome = await agent.pollOnce();
            if (outcome === 'failed') process.exitCode = 1;
            return;
          }
          await runForever(agent.pollOnce, interval * 1000, maxBackoff * 1000, logger);
        },
      ),
  );
  return cmd;
}

/** Polls until SIGTERM/SIGINT; after failures waits exponentially longer (with jitter), up to the cap. */
async function runForever(poll: () => Promise<unknown>, intervalMs: number, maxBackoffMs: number, logger: pino.Logger): Promise<void> {
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  let failures = 0;
  while (!stopping) {
    try {
      await poll();
      failures = 0;
    } catch (e) {
      failures += 1;
      logger.warn({ err: e instanceof Error ? e.message : String(e), failures }, 'poll failed; backing off');
    }
    const wait = failures === 0 ? intervalMs : backoffDelay(failures, { baseMs: intervalMs, maxMs: maxBackoffMs, jitter: 'equal' });
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, wait);
    });
  }
}
