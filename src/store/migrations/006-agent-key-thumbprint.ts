import { calculateJwkThumbprint, JWK } from 'jose';
import { Kysely } from 'kysely';

/**
 * One agent key, one device: the RFC 7638 thumbprint of each device's agent key, unique across
 * every device ever enrolled (retired ones too), so two enrolments with one key cannot both commit,
 * on one daemon or on several sharing PostgreSQL. Devices enrolled before this share a key only
 * by mistake; the first enrolled keeps its thumbprint, the later ones keep NULL (a unique index
 * admits any number of NULLs) rather than failing the upgrade.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const d = db as unknown as Kysely<{ devices: { id: string; agent_key: string; created_at: string; agent_key_thumbprint: string | null } }>;
  await db.schema.alterTable('devices').addColumn('agent_key_thumbprint', 'text').execute();
  const seen = new Set<string>();
  for (const row of await d.selectFrom('devices').select(['id', 'agent_key']).orderBy('created_at').orderBy('id').execute()) {
    let thumbprint: string;
    try {
      thumbprint = await calculateJwkThumbprint(JSON.parse(row.agent_key) as JWK, 'sha256');
    } catch {
      continue;
    }
    if (seen.has(thumbprint)) continue;
    seen.add(thumbprint);
    await d.updateTable('devices').set({ agent_key_thumbprint: thumbprint }).where('id', '=', row.id).execute();
  }
  await db.schema.createIndex('devices_agent_key_thumbprint').unique().on('devices').column('agent_key_thumbprint').execute();
}
