/**
 * npm run bench:history — what a device's age costs. Versions are never deleted, so a device
 * rotated every 4 h gains ~2,200 a year. This times the reads that touch a device's versions (the
 * reveal's read, the agent poll's pending lookup, the pruning after each rotation) on devices with
 * 1,000 and 10,000 versions of history, against a device with none in the same store (the baseline).
 * Target: flat.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import { createServices } from '../src/app';
import { openInfra } from '../src/infra';
import { loadConfig } from '../src/config/load-config';
import { createCredentialRepository } from '../src/credentials/credential-repository';
import { CredentialVersionTable } from '../src/store/schema';
import { createGrantRepository } from '../src/grants/grant-repository';
import { UserPrincipal } from '../src/identity/principal';
import { machine } from './machine';
import { pct } from './percentile';

const admin: UserPrincipal = { kind: 'user', subject: 'bench-admin', roles: ['admin'], groups: [] };
const alice: UserPrincipal = { kind: 'user', subject: 'alice', roles: ['requester'], groups: ['helpdesk'] };
const ctx = { requestId: 'bench-history' };
const histories = [0, 1000, 10000];
const runs = Number(process.env.BENCH_RUNS ?? 2000);

async function timed(run: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 100; i++) await run();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await run();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { p50: pct(ms, 50), p99: pct(ms, 99) };
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-bench-history-'));
  const config = loadConfig({ env: { JITBROKER_DATA_DIR: path.join(dir, 'data') } });
  const infra = await openInfra(config, { env: {}, logger: pino({ level: 'silent' }) });
  try {
    const s = await createServices(config, infra);
    const { db } = infra;
    await s.policies.createPolicy(
      admin,
      { name: 'desk', principals: { groups: ['helpdesk'] }, deviceGroups: ['desk'], maxDuration: 'PT4H', requireTicket: false, requireApproval: false, enabled: true },
      ctx,
    );
    const grants = createGrantRepository(db);
    const versions = createCredentialRepository(db);
    const figures: Record<string, Record<number, { p50: number; p99: number }>> = { reveal: {}, pending: {}, prune: {} };
    for (const n of histories) {
      const id = `desk-${n}`;
      const agentKey = await exportJWK((await generateKeyPair('ES256')).publicKey);
      await s.devices.enrolDevice(admin, { id, groups: ['desk'], agentKey: agentKey as never }, ctx);
      const p = await s.rotations.fetchPending(id, ctx);
      await s.rotations.acknowledge(id, p!.version, 'set', undefined, ctx);
      // History as a long-lived device has it: superseded versions, all but the newest 5 pruned from
      // the vault. Numbered after the current one: the reads measured do not depend on the order.
      const at = new Date().toISOString();
      for (let i = 0; i < n; i += 1000) {
        const rows = Array.from({ length: Math.min(1000, n - i) }, (_, k): CredentialVersionTable => {
          const version = 2 + i + k;
          return {
            device_id: id,
            version,
            state: 'superseded',
            reason: 'scheduled',
            vault_ref: `bench/${id}/${version}`,
            created_at: at,
            fetched_at: at,
            acknowledged_at: at,
            superseded_at: at,
            error: null,
            vault_pruned_at: version <= n - 4 ? at : null,
            revealed_at: null,
          };
        });
        await db.insertInto('credential_versions').values(rows).execute();
      }
      const grant = await s.grants.requestGrant(alice, { deviceId: id, reason: 'bench', duration: 'PT4H' }, ctx);
      figures.reveal![n] = await timed(() => grants.findForReveal(db, grant.id));
      figures.pending![n] = await timed(() => versions.pending(db, id));
      figures.prune![n] = await timed(() => versions.beyondHistory(db, id, 5));
    }
    const label: Record<string, string> = {
      reveal: "reveal's read (grant, device, current and pending versions)",
      pending: "agent poll's pending lookup",
      prune: 'pruning after a rotation',
    };
    console.log(`${runs} runs each, after 100 not counted; baseline: a device with no history, in the same store`);
    for (const [k, byN] of Object.entries(figures)) {
      const base = byN[0]!;
      const cells = histories
        .slice(1)
        .map((n) => `${n} versions p50 ${byN[n]!.p50.toFixed(3)} ms p99 ${byN[n]!.p99.toFixed(3)} ms (${(byN[n]!.p50 / base.p50).toFixed(2)}× the baseline's p50)`);
      console.log(`${label[k]}: baseline p50 ${base.p50.toFixed(3)} ms p99 ${base.p99.toFixed(3)} ms; ${cells.join('; ')}`);
    }
  } finally {
    await infra.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
