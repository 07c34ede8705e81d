import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Read at scrape time: figures that live in the store rather than in counters. */
export interface MetricsSources {
  rotationQueue(): Promise<{ open: number; due: number; oldestDue: string | null }>;
  /** Devices flagged after rotation.retry.flagAfter failures in a row. */
  failingDevices(): Promise<number>;
  /** Active devices whose password is older than rotation.maxAge. */
  overdueDevices(): Promise<number>;
  /** Active devices whose agent fetched a pending password more than rotation.ackTimeout ago and never acknowledged it. */
  ackOverdueDevices(): Promise<number>;
}

/** Grant decisions and state changes, one per audited action (plus `conflict`, refused without a change). */
export const grantOutcomes = ['requested', 'activated', 'approved', 'denied', 'policy-denied', 'revoked', 'expired', 'conflict'] as const;
export type GrantOutcome = (typeof grantOutcomes)[number];
/** Reveals that reached the grant service: shown, refused (4xx), or no password could be served (vault, audit, none set). */
export const revealOutcomes = ['revealed', 'refused', 'unavailable'] as const;
export type RevealOutcome = (typeof revealOutcomes)[number];
/** The vault calls instrumentVault times, by backend method. */
export const vaultOps = ['put', 'putInTransaction', 'get', 'remove', 'check', 'markState'] as const;
export type VaultOp = (typeof vaultOps)[number];

/**
 * The daemon's Prometheus metrics, on a registry of its own. Labels carry only bounded values
 * (route patterns, methods, status codes, reasons, outcomes): never a device id, a subject or
 * anything secret.
 */
export function createMetrics(opts: { now: () => Date }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'jitbroker_' });
  // prom-client names three gauges `…_total`, which Prometheus reserves for counters (promtool
  // refuses the scrape). Each is the sum of its by-type gauge (`jitbroker_nodejs_active_handles`
  // and so on) over the same list, so dropping it loses nothing.
  for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`jitbroker_nodejs_active_${kind}_total`);
  let sources: MetricsSources | undefined;

  const httpRequests = new Counter({
    name: 'jitbroker_http_requests_total',
    help: 'HTTP requests by route pattern, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'jitbroker_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern and method',
    labelNames: ['route', 'method'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const commits = new Histogram({
    name: 'jitbroker_store_transaction_seconds',
    help: 'Store transactions from start to durable commit (each holds a batch of audited units)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  const batchUnits = new Histogram({
    name: 'jitbroker_store_transaction_units',
    help: 'Units of work committed together',
    buckets: [1, 2, 5, 10, 25, 50, 100, 256],
    registers: [registry],
  });
  const checkpoints = new Histogram({
    name: 'jitbroker_store_checkpoint_seconds',
    help: 'WAL checkpoints in the worker thread (store.checkpoint worker), from request to answer: no batch commits meanwhile',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const commitFailures = new Counter({
    name: 'jitbroker_store_commit_failures_total',
    help: 'Writes the store did not commit, by cause (SQLITE_FULL, SQLITE_IOERR_WRITE, a PostgreSQL SQLSTATE, ECONNREFUSED, connection-lost…)',
    labelNames: ['code'],
    registers: [registry],
  });
  const longest = new Gauge({ name: 'jitbroker_store_transaction_longest_seconds', help: 'The longest store transaction since start', registers: [registry] });
  let longestSeen = 0;
  const rotations = new Counter({ name: 'jitbroker_rotations_total', help: 'Rotation steps by reason and result', labelNames: ['reason', 'result'], registers: [registry] });
  const grants = new Counter({
    name: 'jitbroker_grants_total',
    help: 'Grant decisions and state changes by outcome, counted once committed',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const reveals = new Counter({
    name: 'jitbroker_reveals_total',
    help: 'Password reveals that reached the grant service, by outcome (unauthenticated and rate-limited ones are only in jitbroker_http_requests_total)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  // Every outcome is present from the start, so a rate over a fresh daemon is 0, not absent.
  for (const outcome of grantOutcomes) grants.inc({ outcome }, 0);
  for (const outcome of revealOutcomes) reveals.inc({ outcome }, 0);
  const auditAppend = new Histogram({
    name: 'jitbroker_audit_append_seconds',
    help: "Audit appends inside the caller's transaction (the durable commit is jitbroker_store_transaction_seconds)",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    registers: [registry],
  });
  const vaultCalls = new Histogram({
    name: 'jitbroker_vault_call_seconds',
    help: 'Vault backend calls by backend and operation, failed ones included',
    labelNames: ['backend', 'op'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const vaultErrors = new Counter({
    name: 'jitbroker_vault_errors_total',
    help: 'Vault backend calls that failed, by backend and operation',
    labelNames: ['backend', 'op'],
    registers: [registry],
  });

  const gauge = (name: string, help: string, read: (s: MetricsSources) => Promise<number>) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        if (!sources) return;
        try {
          this.set(await read(sources));
        } catch {
          // The store cannot be read (an outage): the figure is unknown, and the scrape still answers,
          // with jitbroker_store_commit_failures_total and the request counters that tell of the outage.
          this.set(Number.NaN);
        }
      },
    });
  gauge('jitbroker_rotation_queue_open_jobs', 'Open rotation jobs', async (s) => (await s.rotationQueue()).open);
  gauge('jitbroker_rotation_queue_due_jobs', 'Open rotation jobs that are due now', async (s) => (await s.rotationQueue()).due);
  gauge('jitbroker_rotation_queue_oldest_due_age_seconds', 'How long the oldest open job has been due (0 when none is)', async (s) => {
    const oldest = (await s.rotationQueue()).oldestDue;
    return oldest ? Math.max(0, (opts.now().getTime() - Date.parse(oldest)) / 1000) : 0;
  });
  gauge('jitbroker_devices_rotation_failing', 'Devices flagged after repeated rotation failures', (s) => s.failingDevices());
  gauge('jitbroker_devices_rotation_overdue', 'Active devices whose password is older than rotation.maxAge', (s) => s.overdueDevices());
  gauge(
    'jitbroker_devices_ack_overdue',
    'Active devices whose agent fetched a new password more than rotation.ackTimeout ago and has not acknowledged it (the device may hold it; a reveal shows it too)',
    (s) => s.ackOverdueDevices(),
  );

  return {
    registry,
    /** Where the store-backed gauges read from; set once the services exist. */
    setSources(s: MetricsSources) {
      sources = s;
    },
    httpRequest(route: string, method: string, status: number, seconds: number) {
      httpRequests.inc({ route, method, status: String(status) });
      httpDuration.observe({ route, method }, seconds);
    },
    commit(seconds: number, units: number) {
      commits.observe(seconds);
      batchUnits.observe(units);
      if (seconds > longestSeen) longest.set((longestSeen = seconds));
    },
    storeCommitFailure(code: string) {
      commitFailures.inc({ code });
    },
    checkpoint(seconds: number) {
      checkpoints.observe(seconds);
    },
    rotation(reason: string, result: 'rotated' | 'merged' | 'cancelled' | 'deferred' | 'failed' | 'acknowledged' | 'set-failed') {
      rotations.inc({ reason, result });
    },
    grant(outcome: GrantOutcome) {
      grants.inc({ outcome });
    },
    reveal(outcome: RevealOutcome) {
      reveals.inc({ outcome });
    },
    auditAppend(seconds: number) {
      auditAppend.observe(seconds);
    },
    /** `backend` is the config's backend name (a registry key), never anything about a secret. */
    vaultBackend(backend: string, ops: readonly VaultOp[]) {
      for (const op of ops) {
        vaultCalls.zero({ backend, op });
        vaultErrors.inc({ backend, op }, 0);
      }
    },
    vaultCall(backend: string, op: VaultOp, seconds: number, ok: boolean) {
      vaultCalls.observe({ backend, op }, seconds);
      if (!ok) vaultErrors.inc({ backend, op });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
