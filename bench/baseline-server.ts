/**
 * The baseline the reveal benchmark compares with: the least a reveal must do, with nothing
 * else. One route verifies an ES256 JWT with jose, appends one hash-chained row to SQLite (WAL,
 * synchronous=FULL) in its own transaction, and answers JSON. Prints `listening <port> <token>`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import express from 'express';
import { SignJWT, generateKeyPair, jwtVerify } from 'jose';
import { serverClasses } from '../src/http/server-classes';

async function main(): Promise<void> {
  const dir = process.argv[2] ?? fs.mkdtempSync('/tmp/jitbroker-baseline-');
  const db = new BetterSqlite3(path.join(dir, 'baseline.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, canonical TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)');
  const head = db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1');
  const insert = db.prepare('INSERT INTO events (seq, canonical, prev_hash, hash) VALUES (?, ?, ?, ?)');
  const append = db.transaction((actor: string, target: string) => {
    const h = head.get() as { seq: number; hash: string } | undefined;
    const seq = (h?.seq ?? 0) + 1;
    const prev = h?.hash ?? '0'.repeat(64);
    const canonical = JSON.stringify({ action: 'grant.password-revealed', actor, at: new Date().toISOString(), prevHash: prev, seq, target });
    insert.run(seq, canonical, prev, crypto.createHash('sha256').update(canonical).digest('hex'));
  });

  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const token = await new SignJWT({ roles: ['requester'] })
    .setProtectedHeader({ alg: 'ES256' })
    .setSubject('alice')
    .setIssuer('bench')
    .setAudience('bench')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);

  const app = express();
  app.get('/reveal/:id', (req, res) => {
    const m = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    if (!m) return void res.status(401).end();
    jwtVerify(m[1] as string, publicKey, { algorithms: ['ES256'], issuer: 'bench', audience: 'bench' }).then(
      ({ payload }) => {
        append(payload.sub as string, `grant:${req.params.id}`);
        res.json({ deviceId: 'laptop-1', account: 'localadmin', password: 'not-a-real-password', version: 1 });
      },
      () => res.status(401).end(),
    );
  });
  // BENCH_BASELINE_BORN=1: requests and responses born with express's prototypes, as the daemon's
  // (src/http/server-classes.ts), to see how much of the difference that alone makes.
  const server = http.createServer(process.env.BENCH_BASELINE_BORN === '1' ? serverClasses(app) : {}, app);
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address() as { port: number };
    process.stdout.write(`listening ${addr.port} ${token}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

void main();
