/**
 * A child process of `npm run bench:rotation`: simulated device agents for a share of the fleet.
 * Kept out of the process that measures reveal latency, so the time these agents spend signing
 * tokens and reading answers is not counted as the daemon's.
 *
 * Told by the parent (one IPC message): the daemon's URL, the fleet's private key (a JWK), the
 * device ids and the poll interval. Reports { polls, acked } every half second and when done.
 * `runAgents` is also what the parent runs itself with BENCH_AGENT_PROCESSES=0.
 */
import { JWK, KeyLike, importJWK } from 'jose';
import { timeOrderedId } from '../src/store/ids';
import { signAgentToken } from '../test/support/agent-token';

export interface AgentsTask {
  url: string;
  privateJwk: JWK;
  ids: string[];
  intervalMs: number;
}

export interface AgentsReport {
  polls: number;
  acked: number;
  done?: boolean;
  error?: string;
}

/** Runs the agents of `task` until every one has acknowledged a new password; counts into `counts` as it goes. */
export async function runAgents(task: AgentsTask, counts: AgentsReport): Promise<void> {
  const key = (await importJWK(task.privateJwk, 'ES256')) as KeyLike;
  // The tests' agent token, with a time-ordered jti as the real agent makes.
  const sign = (id: string) => signAgentToken(id, key, { jti: timeOrderedId() });
  /** One device's agent: polls every interval from a random phase; sets and acknowledges what it finds. */
  const agent = async (id: string) => {
    await new Promise((r) => setTimeout(r, Math.random() * task.intervalMs));
    for (;;) {
      counts.polls += 1;
      const res = await fetch(`${task.url}/v1/agent/credential`, { headers: { authorization: `Bearer ${await sign(id)}` } });
      if (res.status === 200) {
        const body = (await res.json()) as { version: number };
        const ack = await fetch(`${task.url}/v1/agent/credential/${body.version}/ack`, {
          method: 'POST',
          headers: { authorization: `Bearer ${await sign(id)}`, 'content-type': 'application/json' },
          body: '{"result":"set"}',
        });
        if (ack.status !== 204) throw new Error(`ack ${id}: ${ack.status} ${await ack.text()}`);
        counts.acked += 1;
        return;
      }
      if (res.status !== 204) throw new Error(`poll ${id}: ${res.status} ${await res.text()}`);
      await new Promise((r) => setTimeout(r, task.intervalMs));
    }
  };
  await Promise.all(task.ids.map(agent));
}

if (require.main === module) {
  process.once('message', (task: AgentsTask) => {
    const counts: AgentsReport = { polls: 0, acked: 0 };
    const report = setInterval(() => process.send?.(counts), 500);
    runAgents(task, counts).then(
      () => {
        clearInterval(report);
        process.send?.({ ...counts, done: true }, () => process.disconnect());
      },
      (e: unknown) => {
        clearInterval(report);
        process.exitCode = 1;
        process.send?.({ ...counts, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }, () => process.disconnect());
      },
    );
  });
}
