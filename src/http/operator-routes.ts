import { Logger } from 'pino';
import { z } from 'zod';
import type { IdentityProvider } from '../identity/identity-provider';
import type { Metrics } from '../metrics/metrics';
import { DomainError } from '../problems/problem';
import type { StoreHealth } from '../store/store-health';
import { RouteGroup, route, routeGroup } from './route';

/** What the operator endpoints read: the probes of readiness, and the metrics registry. */
export interface OperatorDependencies {
  logger: Logger;
  metrics: Pick<Metrics, 'registry'>;
  storeHealth: Pick<StoreHealth, 'unavailable'>;
  identity: Pick<IdentityProvider, 'check'>;
  ready: () => Promise<void>;
}

/**
 * The endpoints a load balancer, a scraper and a client generator call: no authentication, and
 * mounted before every limit (a busy address must never make /readyz or /metrics answer 429).
 */
export function operatorRoutes(s: OperatorDependencies, openapi: () => string): RouteGroup {
  return routeGroup('', [
    route({
      method: 'get',
      path: '/healthz',
      summary: 'The process is up',
      roles: 'public',
      responses: { 200: { description: 'Up', json: z.object({ status: z.literal('ok') }) } },
      handle: async () => ({ status: 200, body: { status: 'ok' } }),
    }),
    route({
      method: 'get',
      path: '/openapi.json',
      summary: 'This document',
      roles: 'public',
      responses: { 200: { description: 'OpenAPI 3.1', json: z.object({}).passthrough() } },
      handle: async () => ({ status: 200, json: openapi() }),
    }),
    route({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      roles: 'public',
      responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': z.string() } } },
      handle: async () => ({ status: 200, text: { type: s.metrics.registry.contentType, body: await s.metrics.registry.metrics() } }),
    }),
    route({
      method: 'get',
      path: '/readyz',
      summary: 'The store and the vault are usable',
      roles: 'public',
      responses: { 200: { description: 'Ready', json: z.object({ status: z.literal('ready') }) } },
      problems: ['unavailable'],
      handle: () =>
        s.ready().then(
          () =>
            // The identity provider last: the daemon starts without it, but cannot verify tokens until it has its keys.
            Promise.resolve(s.identity.check?.()).then(
              () => ({ status: 200, body: { status: 'ready' } }),
              (e: unknown) => {
                s.logger.warn({ err: e }, 'not ready: identity provider');
                throw new DomainError('unavailable', "The identity provider's signing keys cannot be had, so tokens cannot be verified.");
              },
            ),
          (e: unknown) => {
            // A store outage is logged once per cause (storeHealth), not at every poll of the load balancer.
            if (!s.storeHealth.unavailable(e)) s.logger.warn({ err: e }, 'not ready');
            throw new DomainError('unavailable', 'The store or the vault is not usable.');
          },
        ),
    }),
  ]);
}
