import cron from 'node-cron';
import pino from 'pino';
import { Scheduler, createScheduler, scheduleJobs } from '../../src/scheduler/jobs';
import { TestApp, createTestApp } from '../support/test-app';

/** Each timed job, by the name it is scheduled (and locked) under, and the one service call it makes. */
const expected = {
  'expire-grants': ['grants', 'expireDueGrants'],
  'enqueue-due-rotations': ['rotations', 'enqueueDueRotations'],
  'run-rotation-jobs': ['rotations', 'runDueJobs'],
  'prune-agent-token-ids': ['deviceIdentity', 'pruneTokenIds'],
  'audit-checkpoint': ['checkpoints', 'checkpointIfDue'],
  'deliver-webhooks': ['webhooks', 'deliverDue'],
  'prune-portal-sessions': ['signIn', 'prune'],
} as const;

type Service = (typeof expected)[keyof typeof expected][0];

/** A scheduler that only records what is scheduled: the test runs each job itself, no clock involved. */
function recordingScheduler() {
  const jobs = new Map<string, { expression: string; run: () => Promise<unknown> }>();
  const scheduler: Scheduler = {
    every(name, expression, run) {
      if (jobs.has(name)) throw new Error(`job ${name} scheduled twice`);
      jobs.set(name, { expression, run });
    },
    stop: () => undefined,
  };
  return { scheduler, jobs };
}

describe('scheduleJobs: every timed job, by name', () => {
  let h: TestApp;
  beforeEach(async () => {
    h = await createTestApp();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await h.close();
  });

  it('schedules each job once, under its name, on a valid cron expression, and each runs its own service call on the real graph', async () => {
    const { scheduler, jobs } = recordingScheduler();
    scheduleJobs(scheduler, h, { rotationWorkerSeconds: 7, rotationScanSeconds: 11, webhookSeconds: 13 });
    expect([...jobs.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const { expression } of jobs.values()) expect(cron.validate(expression)).toBe(true);
    // The intervals that come from the config are the configured ones.
    expect(jobs.get('run-rotation-jobs')?.expression).toBe('*/7 * * * * *');
    expect(jobs.get('enqueue-due-rotations')?.expression).toBe('*/11 * * * * *');
    expect(jobs.get('deliver-webhooks')?.expression).toBe('*/13 * * * * *');

    // Spies that call through: the job runs the real service against the store.
    const services: Record<Service, Record<string, unknown>> = h as never;
    const spies = Object.values(expected).map(([service, method]) => ({
      call: `${service}.${method}`,
      spy: jest.spyOn(services[service] as Record<string, () => Promise<unknown>>, method),
    }));
    for (const [name, [service, method]] of Object.entries(expected)) {
      spies.forEach((s) => s.spy.mockClear());
      await jobs.get(name)?.run();
      const called = spies.filter((s) => s.spy.mock.calls.length > 0).map((s) => s.call);
      expect({ name, called }).toEqual({ name, called: [`${service}.${method}`] });
    }
  });
});

describe('createScheduler', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('runs a job on its schedule under the lock named after it, skips a tick while the last run is still going, and logs a failed run', async () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    const logged: string[] = [];
    const locked: string[] = [];
    const s = createScheduler(pino({}, { write: (l: string) => void logged.push(l) }), (name, run) => {
      locked.push(name);
      return run();
    });
    let runs = 0;
    let finish: () => void = () => undefined;
    s.every('slow-job', '*/5 * * * * *', () => {
      runs += 1;
      return runs === 1 ? new Promise<void>((r) => (finish = r)) : Promise.reject(new Error('the store is down'));
    });
    try {
      await jest.advanceTimersByTimeAsync(5_000);
      expect(runs).toBe(1);
      // The first run is still going: the next two ticks are skipped.
      await jest.advanceTimersByTimeAsync(10_000);
      expect(runs).toBe(1);
      finish();
      await jest.advanceTimersByTimeAsync(5_000);
      expect(runs).toBe(2);
      expect(locked).toEqual(['slow-job', 'slow-job']);
      expect(logged.some((l) => l.includes('"job":"slow-job"') && l.includes('scheduled job failed'))).toBe(true);
    } finally {
      s.stop();
    }
  });
});
