// The npm `centrifuge` client against the kit's realtime stand-in: a real Centrifugo fed by
// the mock. Run by tests/test_realtime_js.py, which starts the stand-in and passes its
// addresses in MOCK_URL and WS_URL (the mock's token TTL is a few seconds, so every
// connection here lives through token refreshes by getToken).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';

const MOCK = process.env.MOCK_URL;
const WS = process.env.WS_URL;
const ADMIN = 'dev-admin-acme-5d1f0c2b7a9e4c31';
const READER = 'dev-reader-acme-8b3e6f4a1c2d9e07';
const ACME = 'org_26ZZVNs2QURl4yY6owPARekUbMa';
const GLOBEX = 'org_27owyTHZIhhFrII3bP5tqKmc9Vo';
const ADA = 'usr_26ZZVRrmnPTXTcZIuzXLZdnigLW';
const RITA = 'usr_27owyeeNEYU0sTDZWYnFg5PCMDZ';
const SHIPMENT = { id: 'shp_2iFmwXASMpS3l4IZsauPs8I1eOv', status: 'delivered' };

async function call(method, path, { bearer, body, query } = {}) {
  const url = new URL(MOCK + path);
  for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
  const headers = bearer ? { Authorization: `Bearer ${bearer}` } : {};
  if (body) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function token(bearer, channel) {
  const res = channel
    ? await call('GET', '/events/subscription_token', { bearer, query: { channel } })
    : await call('GET', '/events/connection_token', { bearer });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.token;
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
const publish = (body) =>
  call('POST', '/__mock__/events', { body: { type: 'shipment.updated', data: SHIPMENT, ...body } });

function client(bearer, extra = {}) {
  let fetched = 0;
  const c = new Centrifuge(WS, {
    websocket: WebSocket,
    getToken: async () => { fetched += 1; return token(bearer); },
    maxReconnectDelay: 500,
    ...extra,
  });
  c.fetched = () => fetched;
  return c;
}

function next(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (ctx) => { clearTimeout(timer); resolve(ctx); });
  });
}

test('server-side subscriptions equal the channels claim', async () => {
  for (const bearer of [ADMIN, READER]) {
    const c = client(bearer);
    const subscribed = new Set();
    c.on('subscribed', (ctx) => subscribed.add(ctx.channel));
    c.connect();
    await next(c, 'connected');
    await new Promise((r) => setTimeout(r, 100));
    c.disconnect();
    assert.deepEqual([...subscribed].sort(), claims(await token(bearer)).channels);
  }
});

test('a published event arrives as the envelope, on its channel only', async () => {
  const c = client(ADMIN);
  const seen = [];
  c.on('publication', (ctx) => seen.push(ctx));
  c.connect();
  await next(c, 'connected');
  await call('PUT', `/__mock__/orgs/${GLOBEX}`, { body: { provisioned: true } });
  await publish({ organisation: GLOBEX });
  const answer = await publish({ organisation: ACME });
  assert.equal(answer.status, 201);
  await new Promise((r) => setTimeout(r, 300));
  c.disconnect();
  assert.equal(seen.length, 1);
  assert.equal(seen[0].channel, `shipments:${ACME}`);
  assert.deepEqual(seen[0].data, answer.body.event);
});

test("one's own # channel opens with the mock's subscription token", async () => {
  const c = client(ADMIN);
  c.connect();
  await next(c, 'connected');
  const channel = `shipments:${ACME}#${ADA}`;
  const sub = c.newSubscription(channel, { getToken: async (ctx) => token(ADMIN, ctx.channel) });
  sub.subscribe();
  await next(sub, 'subscribed');
  const arrived = next(sub, 'publication');
  const answer = await publish({ channel });
  assert.deepEqual((await arrived).data, answer.body.event);
  c.disconnect();
});

for (const channel of [`shipments:${ACME}#${RITA}`, `shipments:${GLOBEX}`, `shipments:${ACME}#${ADA}`]) {
  test(`without a subscription token ${channel} is refused (103)`, async () => {
    const c = client(ADMIN);
    c.connect();
    await next(c, 'connected');
    const sub = c.newSubscription(channel);
    sub.subscribe();
    const ctx = await next(sub, 'unsubscribed');
    c.disconnect();
    assert.equal(ctx.code, 103);
  });
}

test('an expired token is refused (109) and getToken brings a fresh one', async () => {
  await call('PUT', '/__mock__/clock', { body: { advance_seconds: -7200 } });
  const stale = await token(ADMIN);
  await call('PUT', '/__mock__/clock', { body: { mode: 'real' } });
  const c = client(ADMIN, { token: stale });
  c.connect();
  await next(c, 'connected');
  c.disconnect();
  assert.ok(c.fetched() >= 1, 'the stale token was accepted');
});

test('a token signed with another secret is refused (3500)', async () => {
  const { createHmac } = await import('node:crypto');
  const good = await token(ADMIN);
  const [header, payload] = good.split('.');
  const forged = `${header}.${payload}.${createHmac('sha256', 'another-secret-long-enough-for-hs256-keys')
    .update(`${header}.${payload}`).digest('base64url')}`;
  const c = new Centrifuge(WS, { websocket: WebSocket, token: forged });
  c.connect();
  const ctx = await next(c, 'disconnected');
  assert.equal(ctx.code, 3500);
});

test('tokens refresh through getToken and the stream goes on', async () => {
  const c = client(ADMIN);
  c.connect();
  await next(c, 'connected');
  await new Promise((r) => setTimeout(r, 4500)); // past the mock's short TTL, twice
  const arrived = next(c, 'publication');
  const answer = await publish({ organisation: ACME });
  assert.deepEqual((await arrived).data, answer.body.event);
  assert.ok(c.fetched() >= 2, `getToken called ${c.fetched()} time(s)`);
  assert.equal(c.state, 'connected');
  c.disconnect();
});

test('deprovision disconnects the organisation', async () => {
  const c = client(ADMIN);
  c.connect();
  await next(c, 'connected');
  const gone = next(c, 'disconnected');
  assert.equal((await call('GET', '/events/deprovision', { bearer: ADMIN })).status, 204);
  const ctx = await gone;
  assert.equal(ctx.code, 4501);
  await call('POST', '/__mock__/reset');
});
