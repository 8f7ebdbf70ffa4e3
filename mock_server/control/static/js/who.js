// Who can do what: the principals with their scopes and bearer tokens, and a connection
// token issued for one of them, decoded, its times read against the mock's clock.
import { ApiError, asPrincipal, claimsOf } from './api.js';
import { badge, copyButton, fill, h, renderIfChanged, seconds } from './dom.js';

function principalCard(p, onIssue, mockNow) {
  const expired = p.expires_at && Date.parse(p.expires_at) <= mockNow;
  const name = p.name || p.user_id;
  return h('article', { class: 'card principal', dataset: { principal: name } },
    h('h3', {}, name, ' ', expired ? badge(`expired ${p.expires_at}`, 'bad') : null),
    h('dl', { class: 'pairs' },
      h('dt', {}, 'Organisation'), h('dd', {}, h('code', {}, p.org_id)),
      h('dt', {}, 'User'), h('dd', {}, h('code', {}, p.user_id)),
      h('dt', {}, 'Scopes'),
      h('dd', {}, p.scopes.length
        ? h('ul', { class: 'chips' }, p.scopes.map((s) => h('li', {}, s)))
        : h('span', { class: 'muted' }, 'none'))),
    h('div', { class: 'token-line' },
      h('code', { class: 'token', title: 'bearer token' }, p.token),
      copyButton(p.token, `the bearer token of ${name}`)),
    h('button', { type: 'button', class: 'small', onclick: () => onIssue(p) },
      'Issue connection token'));
}

function at(seconds_) {
  return new Date(seconds_ * 1000).toISOString().replace('.000Z', 'Z');
}

function claimsView(p, token, clock) {
  const claims = claimsOf(token);
  const now = Math.floor(Date.parse(clock.now) / 1000);
  const left = claims.exp - now;
  const name = p.name || p.user_id;
  return h('article', { class: 'card claims', 'aria-label': `Connection token of ${name}` },
    h('h3', {}, `Connection token of ${name}`),
    h('p', { class: 'hint' }, `Issued by GET /events/connection_token with ${name}'s bearer token; `,
      `times read against the mock's clock (${clock.mode}, ${clock.now}).`),
    h('dl', { class: 'pairs' },
      h('dt', {}, 'sub'), h('dd', {}, h('code', {}, claims.sub)),
      h('dt', {}, 'channels'),
      h('dd', {}, h('ul', { class: 'chips channels' }, (claims.channels || []).map((c) => h('li', {}, c)))),
      h('dt', {}, 'issued (iat)'), h('dd', {}, at(claims.iat)),
      h('dt', {}, 'expires (exp)'),
      h('dd', {}, at(claims.exp), ' ',
        left > 0 ? badge(`in ${seconds(left)}`, 'ok') : badge(`${seconds(-left)} ago`, 'bad'))),
    h('details', {}, h('summary', {}, 'All claims and the token'),
      h('pre', { class: 'json' }, JSON.stringify(claims, null, 2)),
      h('div', { class: 'token-line' }, h('code', { class: 'token' }, token),
        copyButton(token, 'the connection token'))));
}

export function initWho(app) {
  const list = document.getElementById('principals');
  const claims = document.getElementById('claims');

  async function issue(p) {
    const name = p.name || p.user_id;
    try {
      const { token } = await asPrincipal('GET', '/events/connection_token', p.token);
      await app.refreshState();
      fill(claims, claimsView(p, token, app.state.clock));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fill(claims, h('article', { class: 'card claims refused', 'aria-label': `Connection token of ${name}` },
        h('h3', {}, `No connection token for ${name}`),
        h('p', {}, badge(String(error.status), error.status >= 500 ? 'bad' : 'warn'), ' ',
          h('code', {}, error.code), ' ', error.message)));
    }
  }

  const render = () => renderIfChanged(list, [app.principals, app.state.clock.now.slice(0, 16)],
    ([principals]) => h('div', { class: 'cards' },
      principals.map((p) => principalCard(p, issue, Date.parse(app.state.clock.now)))));
  app.addEventListener('principals', render);
  app.addEventListener('state', render);
}
