// Organisations: the provisioning switch (PUT /__mock__/orgs/{id}) and each one's webhook
// endpoints (add, remove; a secret stays hidden until asked for).
import { ApiError, control } from './api.js';
import { badge, copyButton, fill, h, keyedRows, toast } from './dom.js';

const shown = new Set(); // endpoint ids whose secret the person asked to see

function endpointRow(org, endpoint, refresh) {
  const secret = h('code', { class: 'secret' }, shown.has(endpoint.id) ? endpoint.secret : 'whsec_••••••••');
  const toggle = h('button', {
    type: 'button', class: 'small secondary', 'aria-pressed': String(shown.has(endpoint.id)),
    'aria-label': `${shown.has(endpoint.id) ? 'Hide' : 'Show'} secret of ${endpoint.url}`,
    onclick: () => {
      if (shown.has(endpoint.id)) shown.delete(endpoint.id); else shown.add(endpoint.id);
      refresh(true);
    },
  }, shown.has(endpoint.id) ? 'Hide secret' : 'Show secret');
  return h('li', { class: 'endpoint' },
    h('div', { class: 'endpoint-url' }, h('code', {}, endpoint.url), ' ',
      endpoint.failing ? badge('failing', 'bad') : null),
    h('div', { class: 'muted small-text' }, endpoint.id, ' · ',
      endpoint.event_types ? endpoint.event_types.join(', ') : 'every event type'),
    h('div', { class: 'token-line' }, secret, toggle,
      shown.has(endpoint.id) ? copyButton(endpoint.secret, `the secret of ${endpoint.url}`) : null,
      h('button', {
        type: 'button', class: 'small danger', 'aria-label': `Remove ${endpoint.url}`,
        onclick: async () => {
          try {
            await control('DELETE', `/__mock__/orgs/${org.id}/webhook_endpoints/${endpoint.id}`);
            toast(`Removed ${endpoint.url}.`, 'ok');
          } catch (error) {
            if (!(error instanceof ApiError)) throw error;
            toast(error.message, 'error');
          }
          refresh();
        },
      }, 'Remove')));
}

function orgCard(org, app, refresh) {
  const title = `org-${org.id}`;
  const error = h('p', { class: 'error', 'aria-live': 'polite' });
  const toggle = h('input', {
    type: 'checkbox', role: 'switch', id: `provisioned-${org.id}`,
    onchange: async (event) => {
      const provisioned = event.currentTarget.checked;
      try {
        await control('PUT', `/__mock__/orgs/${org.id}`, { provisioned });
        toast(`${org.id} is ${provisioned ? 'provisioned' : 'not provisioned'}.`, 'ok');
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        error.textContent = e.message;
      }
      refresh();
    },
  });
  const endpoints = h('ul', { class: 'endpoints' });
  const none = h('p', { class: 'muted' }, 'None yet.');
  const url = h('input', { type: 'url', id: `endpoint-url-${org.id}`, required: true, placeholder: 'http://127.0.0.1:3000/webhooks', spellcheck: 'false', autocomplete: 'off' });
  const types = app.eventTypes.map((t) => h('label', { class: 'inline' },
    h('input', { type: 'checkbox', value: t.type }), ' ', t.type));
  const form = h('form', {
    class: 'add-endpoint', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = '';
      if (!/^https?:\/\/./.test(url.value.trim())) {
        error.textContent = 'Give an http:// or https:// URL (the mock delivers to loopback addresses unless started with --allow-webhook-host).';
        url.setAttribute('aria-invalid', 'true');
        url.focus();
        return;
      }
      url.removeAttribute('aria-invalid');
      const chosen = types.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      const body = { url: url.value.trim(), ...(chosen.length ? { event_types: chosen } : {}) };
      try {
        const created = await control('POST', `/__mock__/orgs/${org.id}/webhook_endpoints`, body);
        toast(`Added ${created.url} (${created.id}).`, 'ok');
        url.value = '';
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        error.textContent = e.message;
      }
      refresh();
    },
  },
  h('label', { for: url.id }, 'Add a webhook endpoint'),
  h('div', { class: 'row' }, url, h('button', { type: 'submit' }, 'Add endpoint')),
  h('details', {}, h('summary', {}, 'Only some event types'), h('div', { class: 'row' }, types)));
  const state = h('span', { class: 'provision-state' });
  const members = h('p', { class: 'hint' });
  const card = h('article', { class: 'card org', 'aria-labelledby': title, dataset: { org: org.id } },
    h('h3', { id: title }, org.id),
    members,
    h('div', { class: 'row' }, h('label', { class: 'switch', for: toggle.id }, toggle, ' Provisioned'), state),
    h('h4', {}, 'Webhook endpoints'), endpoints, none, form, error);
  card.update = (current) => {
    const names = app.principals.filter((p) => p.org_id === current.id).map((p) => p.name || p.user_id);
    members.textContent = names.length ? `Principals: ${names.join(', ')}` : 'No principal yet.';
    toggle.checked = current.provisioned;
    fill(state, current.provisioned ? badge('provisioned', 'ok') : badge('not provisioned', 'warn'));
    keyedRows(endpoints, current.webhook_endpoints.map((e) => ({ ...e, shown: shown.has(e.id) })),
      (e) => e.id, (e) => endpointRow(current, e, refresh));
    none.hidden = current.webhook_endpoints.length > 0;
    card.classList.toggle('off', !current.provisioned);
  };
  return card;
}

export function initOrganisations(app) {
  const box = document.getElementById('organisations');
  const cards = new Map();
  let forced = false;
  const refresh = async (force = false) => {
    forced = force;
    await app.refreshState(true);
  };
  const render = () => {
    for (const org of app.state.organisations) {
      if (!cards.has(org.id)) {
        const card = orgCard(org, app, refresh);
        cards.set(org.id, card);
        box.append(card);
      }
      const card = cards.get(org.id);
      const json = JSON.stringify([org, [...shown], app.principals.map((p) => [p.name, p.org_id])]);
      if (forced || card.dataset.json !== json) {
        card.dataset.json = json;
        card.update(org);
      }
    }
    const known = new Set(app.state.organisations.map((o) => o.id));
    for (const [id, card] of cards) {
      if (!known.has(id)) { card.remove(); cards.delete(id); }
    }
    forced = false;
  };
  app.addEventListener('state', render);
  app.addEventListener('principals', render);
}
