// Webhook deliveries: status, attempts, next attempt, the receiver's last answer, and a
// retry button (POST /__mock__/deliveries/{id}/retry). Polled once a second.
import { ApiError, control, every } from './api.js';
import { badge, fill, h, keyedRows, scrollTable, timeOf, toast } from './dom.js';

const KINDS = { delivered: 'ok', pending: 'neutral', failed: 'bad', abandoned: 'bad', blocked: 'warn', cancelled: 'warn' };

function lastAnswer(d) {
  const last = d.attempts[d.attempts.length - 1];
  if (!last) return '—';
  if (last.status_code) return badge(String(last.status_code), last.status_code < 300 ? 'ok' : 'bad');
  return h('span', { class: 'muted' }, last.error || '—');
}

export function initDeliveries() {
  const box = document.getElementById('deliveries');
  const status = document.getElementById('deliveries-status');
  const body = h('tbody', {});
  const empty = h('p', { class: 'muted' }, 'No deliveries yet: add a webhook endpoint to an organisation and publish an event.');
  fill(box, scrollTable('Webhook deliveries', ['Delivery', 'Event', 'Endpoint', 'Status', 'Attempts', 'Last answer', 'Next attempt', ''], body), empty);

  const retry = async (d) => {
    try {
      await control('POST', `/__mock__/deliveries/${d.id}/retry`);
      toast(`Retrying ${d.id}.`, 'ok');
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      toast(error.message, 'error');
    }
    refresh();
  };

  const row = (d) => h('tr', { dataset: { delivery: d.id, status: d.status } },
    h('td', {}, h('code', { class: 'id' }, d.id)),
    h('td', {}, d.event_type, h('br'), h('code', { class: 'small-text' }, d.event_id)),
    h('td', { class: 'url' }, h('code', {}, d.url)),
    h('td', {}, badge(d.status, KINDS[d.status] || 'neutral')),
    h('td', { class: 'attempts' }, String(d.attempts.length)),
    h('td', { class: 'answer' }, lastAnswer(d)),
    h('td', {}, d.next_attempt_at ? timeOf(d.next_attempt_at) : '—'),
    h('td', {}, d.status === 'pending' ? null
      : h('button', { type: 'button', class: 'small', 'aria-label': `Retry ${d.id}`, onclick: () => retry(d) }, 'Retry')));

  const refresh = async () => {
    const query = status.value ? `&status=${encodeURIComponent(status.value)}` : '';
    const { deliveries } = await control('GET', `/__mock__/deliveries?limit=100${query}`, undefined, { interactive: false });
    keyedRows(body, deliveries.reverse(), (d) => d.id, row);
    empty.hidden = deliveries.length > 0;
    body.closest('.scroll').hidden = deliveries.length === 0;
  };
  status.addEventListener('change', refresh);
  every(1000, refresh);
}
