// Faults: what is armed (GET /__mock__/faults), arm one on an events API operation or on
// webhook deliveries, clear them all.
import { ApiError, control, every } from './api.js';
import { h, renderIfChanged, toast } from './dom.js';

const int = (id) => {
  const input = document.getElementById(id);
  return input.value === '' ? undefined : Number(input.value);
};

export function initFaults() {
  const box = document.getElementById('faults');
  const error = document.getElementById('fault-error');

  const refresh = async () => {
    const armed = await control('GET', '/__mock__/faults', undefined, { interactive: false });
    renderIfChanged(box, armed, ({ faults, delivery_faults: deliveryFaults }) => (faults.length || deliveryFaults.length
      ? h('ul', { class: 'faults' },
        faults.map((f) => h('li', { dataset: { fault: f.operation_id } }, h('strong', {}, f.operation_id), ' → ',
          [f.status ? `answers ${f.status}` : null, f.latency_ms ? `waits ${f.latency_ms} ms` : null].filter(Boolean).join(' and '),
          `, ${f.remaining} more call${f.remaining === 1 ? '' : 's'}`)),
        deliveryFaults.map((f) => h('li', { dataset: { deliveryFault: f.kind } }, h('strong', {}, `delivery: ${f.kind}`),
          f.delay_ms ? ` (${f.delay_ms} ms)` : '', f.event_type ? ` on ${f.event_type}` : '',
          `, ${f.remaining} more deliver${f.remaining === 1 ? 'y' : 'ies'}`)))
      : h('p', { class: 'muted' }, 'No fault armed.')));
  };

  const run = async (call, done) => {
    error.textContent = '';
    try {
      await call();
      toast(done, 'ok');
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      error.textContent = e.message;
    }
    refresh();
  };

  document.getElementById('fault-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const operation = document.getElementById('fault-operation').value;
    const body = { times: int('fault-times') || 1 };
    if (int('fault-status') !== undefined) body.status = int('fault-status');
    if (int('fault-latency')) body.latency_ms = int('fault-latency');
    run(() => control('PUT', `/__mock__/faults/${operation}`, body), `Armed a fault on ${operation}.`);
  });
  document.getElementById('delivery-fault-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const kind = document.getElementById('dfault-kind').value;
    const body = { kind, times: int('dfault-times') || 1 };
    if (int('dfault-delay')) body.delay_ms = int('dfault-delay');
    run(() => control('PUT', '/__mock__/delivery_faults', body), `Armed a ${kind} delivery fault.`);
  });
  document.getElementById('faults-clear').addEventListener('click', () => run(() => control('DELETE', '/__mock__/faults'), 'Cleared every fault.'));
  every(2000, refresh);
}
