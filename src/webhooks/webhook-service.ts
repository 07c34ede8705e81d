import crypto from 'node:crypto';
import { Logger } from 'pino';
import { Db } from '../store/database';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { timeOrderedId } from '../store/ids';

export const webhookEvents = ['escalation.submitted', 'escalation.status-changed', 'grant.awaiting-approval'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export interface WebhookEndpoint {
  url: string;
  events: readonly WebhookEvent[];
  /** When set, each delivery carries X-Jitbroker-Signature: sha256=<HMAC of the body>. */
  secret?: string;
}

export interface WebhookSettings {
  endpoints: readonly WebhookEndpoint[];
  maxAttempts: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  timeoutSeconds: number;
}

/**
 * Announcements to other systems (a ticketing tool, a chat channel) through an outbox: a delivery
 * is written in the same transaction as what it announces, and a dispatcher posts it afterwards
 * with retries and backoff. A receiver that is down or slow never holds up the request.
 */
export function createWebhookService(deps: { db: Db; transactor: Transactor; clock: Clock; logger: Logger; settings: WebhookSettings }) {
  const { db, transactor, clock, settings } = deps;
  let busy = false;

  /** Queues the event for every endpoint subscribed to it, in the caller's transaction. */
  async function enqueue(tx: Tx, event: WebhookEvent, payload: Record<string, unknown>): Promise<number> {
    const endpoints = settings.endpoints.filter((e) => e.events.includes(event));
    const now = clock.now().toISOString();
    for (const e of endpoints) {
      const id = timeOrderedId();
      await tx
        .insertInto('webhook_deliveries')
        .values({
          id,
          event,
          url: e.url,
          payload: JSON.stringify({ id, event, at: now, data: payload }),
          state: 'pending',
          attempts: 0,
          next_attempt_at: now,
          last_error: null,
          created_at: now,
          delivered_at: null,
        })
        .execute();
    }
    return endpoints.length;
  }

  function backoffMs(attempts: number): number {
    const capped = Math.min(settings.retryMaxSeconds, settings.retryBaseSeconds * 2 ** Math.min(attempts - 1, 30));
    return capped * 1000 * (0.5 + Math.random() / 2);
  }

  async function post(url: string, delivery: { id: string; event: string; payload: string }): Promise<void> {
    const endpoint = settings.endpoints.find((e) => e.url === url);
    if (!endpoint) throw new Error('the endpoint is no longer configured');
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'jitbroker-webhooks',
      'x-jitbroker-event': delivery.event,
      'x-jitbroker-delivery': delivery.id,
    };
    if (endpoint.secret) headers['x-jitbroker-signature'] = `sha256=${crypto.createHmac('sha256', endpoint.secret).update(delivery.payload).digest('hex')}`;
    const res = await fetch(url, { method: 'POST', headers, body: delivery.payload, signal: AbortSignal.timeout(settings.timeoutSeconds * 1000), redirect: 'manual' });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
  }

  /** The dispatcher: posts every due delivery; a failure waits an exponential backoff, and after maxAttempts is given up (and logged). */
  async function deliverDue(limit = 100): Promise<number> {
    if (busy) return 0;
    busy = true;
    try {
      const due = await db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('state', '=', 'pending')
        .where('next_attempt_at', '<=', clock.now().toISOString())
        .orderBy('next_attempt_at')
        .limit(limit)
        .execute();
      await Promise.all(
        due.map(async (d) => {
          try {
            await post(d.url, d);
            await transactor.run(
              (tx) =>
                tx
                  .updateTable('webhook_deliveries')
                  .set({ state: 'delivered', attempts: d.attempts + 1, delivered_at: clock.now().toISOString(), last_error: null })
                  .where('id', '=', d.id)
                  .execute(),
              { singleWrite: true, background: true },
            );
          } catch (e) {
            const attempts = d.attempts + 1;
            // By name, not instanceof: fetch's abort is a DOMException, which need not be this realm's Error.
            const name = (e as { name?: unknown } | undefined)?.name;
            const error = (name === 'TimeoutError' ? `no answer within ${settings.timeoutSeconds} s` : e instanceof Error ? e.message : String(e)).slice(0, 300);
            const giveUp = attempts >= settings.maxAttempts;
            await transactor.run(
              (tx) =>
                tx
                  .updateTable('webhook_deliveries')
                  .set({ state: giveUp ? 'failed' : 'pending', attempts, last_error: error, next_attempt_at: new Date(clock.now().getTime() + backoffMs(attempts)).toISOString() })
                  .where('id', '=', d.id)
                  .execute(),
              { singleWrite: true, background: true },
            );
            // The origin only: a webhook URL often carries its own secret in the path (Slack, Teams).
            const log = { delivery: d.id, event: d.event, endpoint: new URL(d.url).origin, attempts, error };
            if (giveUp) deps.logger.error(log, 'webhook delivery given up');
            else deps.logger.warn(log, 'webhook delivery failed; will retry');
          }
        }),
      );
      return due.length;
    } finally {
      busy = false;
    }
  }

  return { enqueue, deliverDue };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
