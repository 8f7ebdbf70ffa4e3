// The dashboard's entry point: loads what every part needs once (principals, state, event
// types), starts the parts, and keeps the shared data fresh by polling the control API.
import { askForControlToken, control, controlToken, every } from './api.js';
import { initClock } from './clock.js';
import { initDeliveries } from './deliveries.js';
import { toast } from './dom.js';
import { initFaults } from './faults.js';
import { initJournal } from './journal.js';
import { initLive } from './live.js';
import { initOrganisations } from './orgs.js';
import { initPublish } from './publish.js';
import { initScenarios } from './scenarios.js';
import { initWho } from './who.js';

/** Shared data; parts listen for 'state' and 'principals' events on it. */
const app = new EventTarget();
app.principals = [];
app.state = null;
app.eventTypes = [];

app.refreshState = async (interactive = false) => {
  app.state = await control('GET', '/__mock__/state', undefined, { interactive });
  app.dispatchEvent(new Event('state'));
};
app.refreshPrincipals = async (interactive = false) => {
  const { principals } = await control('GET', '/__mock__/principals', undefined, { interactive });
  if (JSON.stringify(principals) !== JSON.stringify(app.principals)) {
    app.principals = principals;
    app.dispatchEvent(new Event('principals'));
  }
};

function header() {
  document.getElementById('base-url').textContent = location.origin;
  const button = document.getElementById('control-token-button');
  const label = () => {
    button.textContent = controlToken() ? 'Control token: set' : 'Control token';
  };
  label();
  document.addEventListener('control-token', label);
  button.addEventListener('click', async () => {
    if (await askForControlToken('')) await Promise.allSettled([app.refreshState(true), app.refreshPrincipals(true)]);
  });
  const problem = document.getElementById('mock-problem');
  document.addEventListener('mock-problem', (event) => {
    const error = event.detail;
    problem.textContent = error && error.status === 401
      ? 'The control API needs the control token: use the “Control token” button.'
      : `The mock does not answer (${error && error.message}). Is it still running?`;
    problem.hidden = false;
  });
  document.addEventListener('mock-answers', () => { problem.hidden = true; });
  app.addEventListener('state', () => {
    const { clock, realtime } = app.state;
    const clockBadge = document.getElementById('clock-badge');
    clockBadge.textContent = `clock ${clock.mode}: ${clock.now}`;
    clockBadge.className = `badge badge-${clock.mode === 'real' ? 'neutral' : 'warn'}`;
    const rt = document.getElementById('realtime-badge');
    rt.textContent = realtime ? `realtime on · Centrifugo ${realtime.centrifugo_version}` : 'realtime off';
    rt.className = `badge badge-${realtime ? (realtime.running ? 'ok' : 'bad') : 'neutral'}`;
  });
}

async function start() {
  try {
    const [types] = await Promise.all([
      control('GET', '/__mock__/event_types'), app.refreshState(true), app.refreshPrincipals(true),
    ]);
    app.eventTypes = types.event_types;
  } catch (error) {
    document.dispatchEvent(new CustomEvent('mock-problem', { detail: error }));
    const retry = () => { document.removeEventListener('control-token', retry); start(); };
    document.addEventListener('control-token', retry);
    return;
  }
  for (const init of [initWho, initOrganisations, initLive, initPublish, initScenarios,
    initClock, initDeliveries, initJournal, initFaults]) {
    init(app);
  }
  app.dispatchEvent(new Event('state'));
  app.dispatchEvent(new Event('principals'));
  document.getElementById('mock-reset').addEventListener('click', async () => {
    await control('POST', '/__mock__/reset');
    document.getElementById('claims').replaceChildren(); // issued before the reset
    toast('The mock is back to its fixtures.', 'ok');
    await Promise.allSettled([app.refreshState(true), app.refreshPrincipals(true)]);
  });
  every(2000, () => app.refreshState());
  every(5000, () => app.refreshPrincipals());
  performance.mark('dashboard-ready');
  document.body.dataset.ready = 'true';
}

header();
start();
