import { Kysely } from 'kysely';
import { Database } from '../store/schema';
import { DeliveryState, WebhookDelivery } from './webhook-delivery';

type Q = Kysely<Database>;

/** The webhook_deliveries table: the outbox. `q` is the store or a transaction of it. */
export function createWebhookDeliveryRepository() {
  return {
    async insert(q: Q, d: WebhookDelivery): Promise<void> {
      await q
        .insertInto('webhook_deliveries')
        .values({
          id: d.id,
          event: d.event,
          url: d.url,
          payload: d.payload,
          state: d.state,
          attempts: d.attempts,
          next_attempt_at: d.nextAttemptAt,
          last_error: d.lastError,
          created_at: d.createdAt,
          delivered_at: d.deliveredAt,
        })
        .execute();
    },
    /** Pending deliveries whose next attempt is due at `now`, the longest-waiting first. */
    async due(q: Q, now: string, limit: number): Promise<Array<Pick<WebhookDelivery, 'id' | 'event' | 'url' | 'payload' | 'attempts'>>> {
      return q
        .selectFrom('webhook_deliveries')
        .select(['id', 'event', 'url', 'payload', 'attempts'])
        .where('state', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(limit)
        .execute();
    },
    async markDelivered(q: Q, id: string, attempts: number, at: string): Promise<void> {
      await q.updateTable('webhook_deliveries').set({ state: 'delivered', attempts, delivered_at: at, last_error: null }).where('id', '=', id).execute();
    },
    /** A failed attempt: retried at `nextAttemptAt` while pending, or given up (failed). */
    async recordFailedAttempt(q: Q, id: string, f: { state: Exclude<DeliveryState, 'delivered'>; attempts: number; lastError: string; nextAttemptAt: string }): Promise<void> {
      await q
        .updateTable('webhook_deliveries')
        .set({ state: f.state, attempts: f.attempts, last_error: f.lastError, next_attempt_at: f.nextAttemptAt })
        .where('id', '=', id)
        .execute();
    },
  };
}

export type WebhookDeliveryRepository = ReturnType<typeof createWebhookDeliveryRepository>;
