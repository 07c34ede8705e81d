import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Logger } from 'pino';
import { Db } from '../store/database';
import { Transactor, Tx } from '../store/transactor';
import { retryDelayMs } from '../time/backoff';
import { Clock } from '../time/clock';
import { timeOrderedId } from '../store/ids';
import { WebhookDeliveryRepository } from './webhook-delivery-repository';
import { RefusedWebhookTarget, Resolve, guardedLookup, refuseLiteralTarget } from './webhook-target';

export const webhookEvents = ['escalation.submitted', 'escalation.status-changed', 'grant.awaiting-approval'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export interface WebhookEndpoint {
  url: string;
  events: readonly WebhookEvent[];
  /** When set, each attempt carries X-Jitbroker-Signature: t=<X-Jitbroker-Timestamp>,v1=<HMAC-SHA256 of "<t>.<body>">. */
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
export function createWebhookService(deps: {
  db: Db;
  deliveries: WebhookDeliveryRepository;
  transactor: Transactor;
  clock: Clock;
  logger: Logger;
  settings: WebhookSettings;
  /** DNS, for tests. */ resolve?: Resolve;
}) {
  const { db, deliveries, transactor, clock, settings } = deps;
  let busy = false;

  /** Queues the event for every endpoint subscribed to it, in the caller's transaction. */
  async function enqueue(tx: Tx, event: WebhookEvent, payload: Record<string, unknown>): Promise<number> {
    const endpoints = settings.endpoints.filter((e) => e.events.includes(event));
    const now = clock.now().toISOString();
    for (const e of endpoints) {
      const id = timeOrderedId();
      await deliveries.insert(tx, {
        id,
        event,
        url: e.url,
        payload: JSON.stringify({ id, event, at: now, data: payload }),
        state: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        lastError: null,
        createdAt: now,
        deliveredAt: null,
      });
    }
    return endpoints.length;
  }

  const backoffMs = (attempts: number) => retryDelayMs(attempts, settings);

  /** What a receiver checks: the HMAC of the attempt's timestamp and the body, as Stripe signs (t=…,v1=…). */
  function signature(secret: string, timestamp: number, body: string): string {
    return `t=${timestamp},v1=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
  }

  async function post(url: string, delivery: { id: string; event: string; payload: string }): Promise<void> {
    const endpoint = settings.endpoints.find((e) => e.url === url);
    if (!endpoint) throw new Error('the endpoint is no longer configured');
    // A fresh timestamp per attempt, signed with the body: a receiver refuses one too old, so a
    // captured delivery cannot be replayed later (X-Jitbroker-Delivery lets it drop duplicates).
    const timestamp = Math.floor(clock.now().getTime() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'jitbroker-webhooks',
      'x-jitbroker-event': delivery.event,
      'x-jitbroker-delivery': delivery.id,
      'x-jitbroker-timestamp': String(timestamp),
    };
    if (endpoint.secret) headers['x-jitbroker-signature'] = signature(endpoint.secret, timestamp, delivery.payload);
    const status = await send(new URL(url), headers, delivery.payload);
    if (status < 200 || status >= 300) throw new Error(`HTTP ${status}`);
  }

  /**
   * One POST, no redirect followed, on a connection of its own whose address was checked as it was
   * resolved (guardedLookup); the answer's status once its body is read, within timeoutSeconds.
   */
  function send(url: URL, headers: Record<string, string>, body: string): Promise<number> {
    refuseLiteralTarget(url);
    return new Promise((resolve, reject) => {
      const client = url.protocol === 'https:' ? https : http;
      const req = client.request(
        url,
        { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false, lookup: guardedLookup(url.protocol, deps.resolve) },
        (res) => {
          res.on('error', reject);
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.resume();
        },
      );
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })), settings.timeoutSeconds * 1000);
      req.on('close', () => clearTimeout(timer));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The dispatcher: posts every due delivery; a failure waits an exponential backoff, and after maxAttempts is given up (and logged). */
  async function deliverDue(limit = 100): Promise<number> {
    if (busy) return 0;
    busy = true;
    try {
      const due = await deliveries.due(db, clock.now().toISOString(), limit);
      await Promise.all(
        due.map(async (d) => {
          try {
            await post(d.url, d);
            await transactor.run((tx) => deliveries.markDelivered(tx, d.id, d.attempts + 1, clock.now().toISOString()), { singleWrite: true, background: true });
          } catch (e) {
            const attempts = d.attempts + 1;
            // By name: send's timer ends the attempt with an error named TimeoutError.
            const name = (e as { name?: unknown } | undefined)?.name;
            const error = (name === 'TimeoutError' ? `no answer within ${settings.timeoutSeconds} s` : e instanceof Error ? e.message : String(e)).slice(0, 300);
            // A target refused for where it points is not retried: it would be refused again.
            const giveUp = attempts >= settings.maxAttempts || e instanceof RefusedWebhookTarget;
            await transactor.run(
              (tx) =>
                deliveries.recordFailedAttempt(tx, d.id, {
                  state: giveUp ? 'failed' : 'pending',
                  attempts,
                  lastError: error,
                  nextAttemptAt: new Date(clock.now().getTime() + backoffMs(attempts)).toISOString(),
                }),
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
