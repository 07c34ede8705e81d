import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { Logger } from 'pino';
import { readWalState } from './database';

// Runs in the worker thread: its own connection to the same file; a PASSIVE checkpoint (never waits
// for readers or writers) each time the main thread asks. Plain JavaScript, so it runs the same from dist/ and under ts-jest.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = FULL');
parentPort.on('message', (m) => {
  if (m === 'checkpoint') {
    try {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)');
      parentPort.postMessage({ done: true, busy: Boolean(r && r.busy) });
    } catch (e) {
      parentPort.postMessage({ done: true, error: String((e && e.message) || e) });
    }
  } else if (m === 'stop') {
    db.close();
    parentPort.close();
  }
});
`;

export interface WalCheckpointer {
  /**
   * For the transactor, before it starts a batch: while a checkpoint runs, a promise that settles
   * when it is over (the batch waits without holding the event loop); otherwise undefined.
   */
  gate(): Promise<void> | undefined;
  /** For the transactor, after each commit: starts a checkpoint in the worker when enough frames wait. */
  committed(): void;
  /** Told how long each checkpoint held the batches (seconds), once the worker answers. */
  onCheckpoint(listener: (seconds: number) => void): void;
  stop(): Promise<void>;
}

/**
 * Moves WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the COMMIT
 * that crosses its threshold: it copies pages back and fsyncs the database file while every
 * request waits. Here the main connection turns that off; after a commit leaves `pages` frames
 * not yet copied back, a worker thread checkpoints, and meanwhile the transactor starts no batch.
 * So the worker's fsync of the database file never runs beside a COMMIT's fsync of the WAL (on
 * ext4 the second waits for the first; checkpointing on a timer made commits of over a second),
 * and the event loop keeps serving requests while it runs. If the worker fails or does not
 * answer, automatic checkpoints come back on so the WAL cannot grow for ever.
 */
export function startWalCheckpointer(sqlite: BetterSqlite3.Database, file: string, opts: { pages: number; logger: Logger; timeoutMs?: number }): WalCheckpointer {
  // What the connection checkpointed at (store.checkpointPages), for the fallback to put back.
  const inlinePages = sqlite.pragma('wal_autocheckpoint', { simple: true }) as number;
  const timeoutMs = opts.timeoutMs ?? 10000;
  sqlite.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(workerSource, { eval: true, workerData: { file, driver: require.resolve('better-sqlite3') } });
  // It never keeps the process alive: what serves requests does, and SQLite needs no goodbye.
  worker.unref();
  let stopping = false;
  let fellBack = false;
  let running = true;
  let inFlight: { done: Promise<void>; release: () => void; timer: NodeJS.Timeout; started: bigint } | undefined;
  let listener: ((seconds: number) => void) | undefined;
  // The WAL's length when the last checkpoint started: a checkpoint that readers kept from finishing
  // is not retried after every commit, only once as many frames again have come.
  let framesAtLastStart = 0;

  const release = () => {
    if (!inFlight) return;
    clearTimeout(inFlight.timer);
    inFlight.release();
    inFlight = undefined;
  };
  const fallBack = (why: string) => {
    if (stopping || fellBack) return;
    fellBack = true;
    opts.logger.error({ why }, 'WAL checkpointer stopped; checkpoints run on the main connection again');
    sqlite.pragma(`wal_autocheckpoint = ${inlinePages}`);
    release();
    if (running) void worker.terminate();
  };
  worker.on('message', (m: { done?: boolean; error?: string }) => {
    if (m.error) opts.logger.warn({ error: m.error }, 'WAL checkpoint failed; will retry');
    if (m.done && inFlight) {
      listener?.(Number(process.hrtime.bigint() - inFlight.started) / 1e9);
      release();
    }
  });
  // A worker that failed also exits: 'error' comes first, with the reason.
  worker.once('error', (e) => fallBack(e.message));
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      running = false;
      fallBack(`exit ${code}`);
      resolve();
    }),
  );

  return {
    gate: () => inFlight?.done,
    onCheckpoint(l) {
      listener = l;
    },
    committed() {
      if (fellBack || stopping || inFlight) return;
      const r = readWalState(sqlite);
      if (!r || r.log - r.checkpointed < opts.pages) return;
      if (r.log >= framesAtLastStart && r.log - framesAtLastStart < opts.pages) return;
      framesAtLastStart = r.log;
      let settle: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (settle = resolve));
      // A worker that stops answering must not hold every write: give up on it and checkpoint inline.
      const timer = setTimeout(() => fallBack(`no answer to a checkpoint in ${timeoutMs} ms`), timeoutMs);
      timer.unref();
      inFlight = { done, release: settle, timer, started: process.hrtime.bigint() };
      worker.postMessage('checkpoint');
    },
    async stop() {
      stopping = true;
      release();
      // A worker that already died is not waited for: shutdown must not hang on it.
      if (!running) return;
      // Held while it closes: unref'd, an otherwise idle process would exit before shutdown finishes.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
