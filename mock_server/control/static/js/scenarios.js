// Scenarios: the bundled and loaded ones, play once or in a loop, stop every one playing.
import { ApiError, control, every } from './api.js';
import { badge, h, renderIfChanged, scrollTable, toast } from './dom.js';

export function initScenarios() {
  const list = document.getElementById('scenarios');
  const playing = document.getElementById('playing');

  const play = async (name, loop) => {
    try {
      await control('POST', `/__mock__/scenarios/${encodeURIComponent(name)}`, loop ? { loop: true } : undefined);
      toast(`Playing ${name}${loop ? ' in a loop' : ''}.`, 'ok');
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      toast(error.message, 'error');
    }
    refresh();
  };

  const render = ({ scenarios, playing: now }) => {
    renderIfChanged(list, scenarios, (rows) => h('ul', { class: 'scenario-list' }, rows.map((s) => h('li', { dataset: { scenario: s.name } },
      h('div', {}, h('strong', {}, s.name), ' ', h('span', { class: 'muted' }, `${s.steps} steps`)),
      s.description ? h('p', { class: 'hint' }, s.description) : null,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'small', 'aria-label': `Play ${s.name}`, onclick: () => play(s.name, false) }, 'Play'),
        h('button', { type: 'button', class: 'small secondary', 'aria-label': `Loop ${s.name}`, onclick: () => play(s.name, true) }, 'Loop'))))));
    renderIfChanged(playing, now, (rows) => (rows.length
      ? scrollTable('Scenarios playing', ['Scenario', 'Published', 'State', 'Refused steps'],
        h('tbody', {}, rows.map((p) => h('tr', { dataset: { playing: p.name } },
          h('td', {}, p.name, p.loop ? ' (loop)' : ''),
          h('td', {}, `${p.published} / ${p.steps}`),
          h('td', {}, p.running ? badge('running', 'ok') : badge('done', 'neutral')),
          h('td', {}, (p.errors || []).join('; ') || '—')))))
      : h('p', { class: 'muted' }, 'Nothing playing.')));
  };

  const refresh = async () => render(await control('GET', '/__mock__/scenarios', undefined, { interactive: false }));
  document.getElementById('scenarios-stop').addEventListener('click', async () => {
    await control('DELETE', '/__mock__/scenarios');
    toast('Stopped every scenario.', 'ok');
    refresh();
  });
  every(2000, refresh);
}
