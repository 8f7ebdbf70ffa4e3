// Live events. With realtime on and the npm `centrifuge` browser client installed, the page
// is a realtime client like the app under development: a connection token of the chosen
// principal (its organisation channels are server-side subscriptions) and, for its own
// user-limited `#usr` channels, subscription tokens from the mock. Without the client, or with
// realtime off, it shows the mock's own list of published events and says how to get more.
import { ApiError, asPrincipal, claimsOf, control, every } from './api.js';
import { badge, fill, h, timeOf } from './dom.js';

const MAX_PER_CHANNEL = 50;

function gist(data) {
  if (!data || typeof data !== 'object') return '';
  const parts = [];
  for (const key of ['status', 'quantity_available']) if (key in data) parts.push(`${key} ${data[key]}`);
  return parts.join(' · ');
}

export function initLive(app) {
  const notice = document.getElementById('live-notice');
  const form = document.getElementById('live-form');
  const select = document.getElementById('live-principal');
  const userChannels = document.getElementById('live-user-channels');
  const connectButton = document.getElementById('live-connect');
  const status = document.getElementById('live-status');
  const feed = document.getElementById('feed');
  const groups = new Map();
  let client = null;

  function setStatus(kind, text) {
    fill(status, badge(kind === 'ok' ? 'connected' : kind === 'bad' ? 'disconnected' : kind, kind === 'ok' ? 'ok' : kind === 'bad' ? 'bad' : 'neutral'), ' ', text);
    status.dataset.state = kind;
  }

  function group(channel) {
    if (groups.has(channel)) return groups.get(channel);
    const list = h('ol', { class: 'events', reversed: true });
    const count = h('span', { class: 'count' }, '0 events');
    const section = h('section', { class: 'channel', dataset: { channel }, 'aria-label': `Channel ${channel}` },
      h('h3', {}, h('code', {}, channel), ' ', count), list);
    const entry = { section, list, count, n: 0, ids: new Set() };
    groups.set(channel, entry);
    // Channels in name order: an organisation's channel, then its users' `#` channels.
    const next = [...feed.children].find((other) => other.dataset.channel > channel);
    feed.insertBefore(section, next || null);
    return entry;
  }

  function add(channel, envelope) {
    const entry = group(channel);
    if (!envelope || entry.ids.has(envelope.id)) return;
    entry.ids.add(envelope.id);
    entry.n += 1;
    entry.count.textContent = `${entry.n} event${entry.n === 1 ? '' : 's'}`;
    entry.list.prepend(h('li', { class: 'event', dataset: { event: envelope.id } },
      h('details', {},
        h('summary', {}, h('span', { class: 'event-type' }, envelope.type), ' ', h('code', {}, envelope.id), ' ',
          timeOf(envelope.created_at), ' ', h('span', { class: 'muted' }, gist(envelope.data))),
        h('pre', { class: 'json' }, JSON.stringify(envelope, null, 2)))));
    while (entry.list.children.length > MAX_PER_CHANNEL) entry.list.lastElementChild.remove();
  }

  document.getElementById('live-clear').addEventListener('click', () => {
    groups.clear();
    feed.replaceChildren();
  });

  function renderPrincipals() {
    const chosen = select.value;
    const now = Date.parse(app.state.clock.now);
    const usable = app.principals.filter((p) => !p.expires_at || Date.parse(p.expires_at) > now);
    fill(select, usable.map((p) => {
      const name = p.name || p.user_id;
      return h('option', { value: name, selected: name === chosen }, `${name} · ${p.org_id}`);
    }));
  }
  app.addEventListener('principals', renderPrincipals);

  function fallback(message) {
    fill(notice, h('div', { class: 'notice' }, message));
    form.hidden = true;
    setStatus('neutral', 'showing the events the mock published (GET /__mock__/events), newest first');
    every(1000, async () => {
      const { events } = await control('GET', '/__mock__/events?limit=100', undefined, { interactive: false });
      for (const published of events) add(published.channel, published.event);
    });
  }

  const realtime = app.state.realtime;
  if (!realtime) {
    fallback([h('strong', {}, 'Realtime is off. '), 'Start the mock with ', h('code', {}, 'envoy-events mock --realtime'),
      ' (or ', h('code', {}, 'make stand-in'), ') to watch events arrive over a real Centrifugo connection, as your app gets them.']);
    return;
  }
  if (!realtime.browser_client) {
    fallback([h('strong', {}, `The centrifuge ${realtime.browser_client_version} browser client is not installed. `),
      'Run ', h('code', {}, 'envoy-events realtime install'), ' (or ', h('code', {}, 'make realtime'),
      ': it fetches the pinned npm package into the kit\'s cache), then reload this page to connect to ',
      h('code', {}, realtime.websocket_url), '.']);
    return;
  }
  fill(notice, h('p', { class: 'hint' }, 'Connects to ', h('code', {}, realtime.websocket_url),
    ` with the npm centrifuge ${realtime.browser_client_version} browser client and the chosen principal's tokens, as your app would.`));
  setStatus('neutral', 'not connected: choose a principal and connect');

  const loaded = new Promise((resolve, reject) => {
    const script = h('script', { src: realtime.browser_client });
    script.addEventListener('load', resolve);
    script.addEventListener('error', () => reject(new Error('the centrifuge client did not load')));
    document.head.append(script);
  });

  function disconnect() {
    if (client) client.disconnect();
    client = null;
    connectButton.textContent = 'Connect';
  }

  async function connect(principal) {
    const Centrifuge = await loaded.then(() => window.Centrifuge, (error) => { setStatus('bad', error.message); return null; });
    if (!Centrifuge) return;
    const name = principal.name || principal.user_id;
    const token = async (path) => {
      try {
        return (await asPrincipal('GET', path, principal.token)).token;
      } catch (error) {
        if (error instanceof ApiError && error.status < 500) {
          setStatus('bad', `${path.split('?')[0]} answered ${error.status} ${error.code}: ${error.message}`);
          throw new Centrifuge.UnauthorizedError(error.message);
        }
        throw error;
      }
    };
    setStatus('connecting', `asking for ${name}'s connection token…`);
    let first;
    try {
      first = await token('/events/connection_token');
    } catch {
      return;
    }
    const claims = claimsOf(first);
    const c = new Centrifuge(realtime.websocket_url, {
      token: first, getToken: () => token('/events/connection_token'), name: 'envoy-events-ui',
    });
    client = c;
    connectButton.textContent = 'Disconnect';
    c.on('connecting', (ctx) => setStatus('connecting', `connecting as ${name} (${ctx.reason})`));
    c.on('connected', (ctx) => setStatus('ok', `as ${name} · client ${ctx.client} · server-side channels: ${(claims.channels || []).join(', ') || 'none'}`));
    c.on('disconnected', (ctx) => {
      setStatus('bad', `${ctx.code} ${ctx.reason}`);
      if (client === c) connectButton.textContent = 'Connect';
    });
    c.on('subscribed', (ctx) => group(ctx.channel));
    c.on('publication', (ctx) => add(ctx.channel, ctx.data));
    if (userChannels.checked) {
      for (const channel of claims.channels || []) {
        const mine = `${channel}#${claims.sub}`;
        const sub = c.newSubscription(mine, {
          getToken: (ctx) => token(`/events/subscription_token?channel=${encodeURIComponent(ctx.channel)}`),
        });
        sub.on('subscribed', () => group(mine));
        sub.on('publication', (ctx) => add(mine, ctx.data));
        sub.subscribe();
      }
    }
    c.connect();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (client) {
      disconnect();
      setStatus('bad', 'disconnected by you');
      return;
    }
    const principal = app.principals.find((p) => (p.name || p.user_id) === select.value);
    if (principal) connect(principal);
  });
}
