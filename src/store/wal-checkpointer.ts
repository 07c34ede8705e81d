import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { Logger } from 'pino';

// Runs in the worker thread: its own connection to the same file, a PASSIVE checkpoint (never waits
// for readers or writers) every interval. Plain JavaScript, so it runs the same from dist/ and under ts-jest.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = FULL');
const timer = setInterval(() => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    if (r && r.busy) parentPort.postMessage({ busy: true });
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.message) || e) });
  }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
`;

/**
 * Moves WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the COMMIT
 * that crosses its threshold: it copies pages back and fsyncs the database file while every
 * request waits. Here the main connection turns that off and a worker thread checkpoints
 * instead; if the worker fails, automatic checkpoints come back on so the WAL cannot grow forever.
 */
export function startWalCheckpointer(sqlite: BetterSqlite3.Database, file: string, opts: { intervalMs: number; logger: Logger }): { stop(): Promise<void> } {
  // What the connection checkpointed at (store.checkpointPages), for the fallback to put back.
  const inlinePages = sqlite.pragma('wal_autocheckpoint', { simple: true }) as number;
  sqlite.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(workerSource, { eval: true, workerData: { file, intervalMs: opts.intervalMs, driver: require.resolve('better-sqlite3') } });
  let stopping = false;
  let fellBack = false;
  const fallBack = (why: string) => {
    if (stopping || fellBack) return;
    fellBack = true;
    opts.logger.error({ why }, 'WAL checkpointer stopped; checkpoints run on the main connection again');
    sqlite.pragma(`wal_autocheckpoint = ${inlinePages}`);
  };
  worker.on('message', (m: { error?: string }) => {
    if (m.error) opts.logger.warn({ error: m.error }, 'WAL checkpoint failed; will retry');
  });
  // A worker that failed also exits: 'error' comes first, with the reason.
  worker.once('error', (e) => fallBack(e.message));
  let running = true;
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      running = false;
      fallBack(`exit ${code}`);
      resolve();
    }),
  );
  return {
    async stop() {
      stopping = true;
      // A worker that already died is not waited for: shutdown must not hang on it.
      if (!running) return;
      worker.postMessage('stop');
      await exited;
    },
  };
}
