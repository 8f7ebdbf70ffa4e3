// The mock's clock: show it, freeze it at an instant, move it, make it real again.
import { ApiError, control } from './api.js';
import { badge, fill, h, toast } from './dom.js';

export function initClock(app) {
  const now = document.getElementById('clock-now');
  const at = document.getElementById('clock-at');

  const set = async (body) => {
    try {
      const clock = await control('PUT', '/__mock__/clock', body);
      toast(`Clock ${clock.mode}: ${clock.now}.`, 'ok');
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      toast(error.message, 'error');
    }
    await app.refreshState(true);
  };

  app.addEventListener('state', () => {
    const { clock } = app.state;
    fill(now, badge(clock.mode, clock.mode === 'real' ? 'neutral' : 'warn'), ' ', h('time', { datetime: clock.now }, clock.now));
    if (!at.value && document.activeElement !== at) at.placeholder = clock.now;
  });
  document.getElementById('clock-freeze').addEventListener('submit', (event) => {
    event.preventDefault();
    set({ frozen_at: at.value.trim() || app.state.clock.now });
  });
  document.getElementById('clock-move').addEventListener('submit', (event) => {
    event.preventDefault();
    const by = Number(document.getElementById('clock-by').value);
    if (!Number.isInteger(by)) {
      toast('Move the clock by a whole number of seconds.', 'error');
      return;
    }
    set({ advance_seconds: by });
  });
  for (const button of document.querySelectorAll('[data-advance]')) {
    button.addEventListener('click', () => set({ advance_seconds: Number(button.dataset.advance) }));
  }
  document.getElementById('clock-real').addEventListener('click', () => set({ mode: 'real' }));
}
