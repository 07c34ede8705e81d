import http from 'node:http';
import { AddressInfo } from 'node:net';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { WebhookSettings, createWebhookService } from '../../src/webhooks/webhook-service';
import { createWebhookDeliveryRepository } from '../../src/webhooks/webhook-delivery-repository';
import { Resolve } from '../../src/webhooks/webhook-target';
import { serveInTempDir } from '../support/daemon-process';
import { TestApp, createTestApp } from '../support/test-app';

const endpointsEnv = (url: string) => ({ JITBROKER_WEBHOOKS_ENDPOINTS: JSON.stringify([{ url, events: ['escalation.submitted'] }]) });

function configLines(url: string): string[] {
  try {
    loadConfig({ env: endpointsEnv(url) });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [...e.lines];
    throw e;
  }
}

describe('webhook URLs are checked at config load: https, http to loopback only, no credentials, no link-local or metadata address', () => {
  it.each([
    ['http://hooks.example/x', 'plain http is allowed only to loopback'],
    ['http://10.0.0.5/x', 'plain http is allowed only to loopback'],
    ['ftp://hooks.example/x', 'must be an https URL'],
    ['https://user:pass@hooks.example/x', 'must not carry a user name or password'],
    ['https://token@hooks.example/x', 'must not carry a user name or password'],
    ['https://169.254.169.254/latest/meta-data/', 'link-local, cloud-metadata'],
    ['https://169.254.10.1/x', 'link-local, cloud-metadata'],
    ['https://[fe80::1]/x', 'link-local, cloud-metadata'],
    ['https://[fd00:ec2::254]/x', 'link-local, cloud-metadata'],
    ['https://[::ffff:169.254.169.254]/x', 'link-local, cloud-metadata'],
    ['https://100.100.100.200/x', 'link-local, cloud-metadata'],
    ['https://2852039166/x', 'link-local, cloud-metadata'],
    ['https://metadata.google.internal/computeMetadata/v1/', 'cloud metadata service'],
    ['https://METADATA.google.internal./x', 'cloud metadata service'],
    ['not a url', 'not a URL'],
  ])('refuses %s', (url, why) => {
    expect(configLines(url)).toEqual([expect.stringMatching(new RegExp(`webhooks\\.endpoints\\.0\\.url.*${why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))]);
  });

  it.each(['https://hooks.example/x', 'http://127.0.0.1:9000/x', 'http://127.8.9.10/x', 'http://[::1]:9000/x', 'http://localhost:9000/x'])('accepts %s', (url) => {
    expect(configLines(url)).toEqual([]);
  });

  it('jitbroker serve refuses to start on one, exit 2, naming the key and why', () => {
    const r = serveInTempDir(() => endpointsEnv('http://169.254.169.254/latest/meta-data/'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/webhooks\.endpoints\.0\.url.*169\.254\.169\.254 is a link-local, cloud-metadata or unspecified address/);
  });
});

describe('webhook delivery checks the address a name resolves to, at each attempt (DNS rebinding)', () => {
  let h: TestApp;
  let server: http.Server;
  let port: number;
  const received: string[] = [];
  beforeAll(async () => {
    h = await createTestApp();
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push(String(req.headers['x-jitbroker-delivery']));
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await h.close();
  });

  /** A dispatcher for one endpoint whose name DNS answers with `answer` (DNS is outside the process: it is the part faked). */
  async function deliverOnce(url: string, answer: string[]) {
    const resolve: Resolve = async () => answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    const settings: WebhookSettings = { endpoints: [{ url, events: ['escalation.submitted'] }], maxAttempts: 5, retryBaseSeconds: 1, retryMaxSeconds: 5, timeoutSeconds: 5 };
    const webhooks = createWebhookService({
      db: h.db,
      deliveries: createWebhookDeliveryRepository(),
      transactor: h.transactor,
      clock: h.clock,
      logger: pino({ level: 'silent' }),
      settings,
      resolve,
    });
    await h.transactor.run((tx) => webhooks.enqueue(tx, 'escalation.submitted', { probe: url }));
    await h.db.deleteFrom('webhook_deliveries').where('url', '!=', url).execute();
    const before = received.length;
    expect(await webhooks.deliverDue()).toBe(1);
    const row = await h.db.selectFrom('webhook_deliveries').select(['id', 'state', 'attempts', 'last_error']).where('url', '=', url).executeTakeFirstOrThrow();
    await h.db.deleteFrom('webhook_deliveries').execute();
    return { row, reached: received.slice(before) };
  }

  it('delivers when the name resolves to loopback', async () => {
    const { row, reached } = await deliverOnce(`http://localhost:${port}/hooks`, ['127.0.0.1']);
    expect(row).toMatchObject({ state: 'delivered', attempts: 1, last_error: null });
    expect(reached).toEqual([row.id]);
  });

  it.each([
    [['169.254.169.254'], 'localhost resolves to 169.254.169.254 is a link-local, cloud-metadata or unspecified address; refused'],
    [['127.0.0.1', 'fe80::1'], 'localhost resolves to fe80::1 is a link-local, cloud-metadata or unspecified address; refused'],
    [['10.1.2.3'], 'localhost resolves to 10.1.2.3 is not loopback, and plain http is allowed only to loopback; refused'],
  ])('refuses, before connecting, a name re-pointed to %j, and records the delivery failed (not retried)', async (answer, error) => {
    const { row, reached } = await deliverOnce(`http://localhost:${port}/hooks`, answer);
    expect(row).toMatchObject({ state: 'failed', attempts: 1, last_error: error });
    expect(reached).toEqual([]);
  });

  it('refuses an IP literal that is forbidden even when config was bypassed', async () => {
    const { row } = await deliverOnce('https://169.254.169.254/latest/meta-data/', []);
    expect(row).toMatchObject({ state: 'failed', attempts: 1, last_error: '169.254.169.254 is a link-local, cloud-metadata or unspecified address; refused' });
  });
});
