// The request journal: what the events API was asked, by whom, and what it answered
// (bearer tokens never reach it). Filtered by the mock; polled once a second.
import { control, every } from './api.js';
import { badge, fill, h, renderIfChanged, scrollTable, statusKind, timeOf, toast } from './dom.js';

export function initJournal(app) {
  const box = document.getElementById('journal');
  const operation = document.getElementById('journal-operation');
  const status = document.getElementById('journal-status');
  const principal = document.getElementById('journal-principal');

  app.addEventListener('principals', () => {
    const chosen = principal.value;
    fill(principal, h('option', { value: '' }, 'any'), app.principals.map((p) => {
      const name = p.name || p.user_id;
      return h('option', { value: name, selected: name === chosen }, name);
    }));
  });

  const refresh = async () => {
    const query = new URLSearchParams({ limit: '100' });
    if (operation.value) query.set('operation_id', operation.value);
    if (status.value && status.checkValidity()) query.set('status', status.value);
    if (principal.value) query.set('principal', principal.value);
    const { entries } = await control('GET', `/__mock__/journal?${query}`, undefined, { interactive: false });
    renderIfChanged(box, entries, (rows) => (rows.length
      ? scrollTable('Request journal', ['Time', 'Operation', 'Request', 'Status', 'Principal'],
        h('tbody', {}, rows.slice().reverse().map((e) => h('tr', { dataset: { operation: e.operation_id || '', status: String(e.status) } },
          h('td', {}, timeOf(e.time)),
          h('td', {}, e.operation_id || '—'),
          h('td', {}, h('code', {}, `${e.method} ${e.path}`)),
          h('td', {}, badge(String(e.status), statusKind(e.status))),
          h('td', {}, e.principal || h('span', { class: 'muted' }, e.authorization ? 'unknown token' : 'no token'))))))
      : h('p', { class: 'muted' }, 'No request matches yet.')));
  };
  for (const input of [operation, status, principal]) input.addEventListener('input', refresh);
  document.getElementById('journal-clear').addEventListener('click', async () => {
    await control('DELETE', '/__mock__/journal');
    toast('Journal cleared.', 'ok');
    refresh();
  });
  every(1000, refresh);
}
