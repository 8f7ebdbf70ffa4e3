// Every call the page makes: same origin only, JSON bodies with Content-Type:
// application/json, the control token (when the mock asks for one) in an Authorization header
// on /__mock__/ calls. The token is entered once and kept in sessionStorage; it never goes
// into a URL.

const TOKEN_KEY = 'envoy-events-control-token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function controlToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setControlToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new CustomEvent('control-token'));
}

let asking = null;
let declined = false;

/** One dialog however many calls were refused at once; resolves true when a token was given. */
export function askForControlToken(reason) {
  if (asking) return asking;
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  document.getElementById('token-reason').textContent = reason || '';
  input.value = '';
  asking = new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const given = dialog.returnValue === 'save' && input.value.trim();
      if (given) setControlToken(input.value.trim());
      if (dialog.returnValue === 'forget') setControlToken(null);
      declined = !given;
      asking = null;
      resolve(Boolean(given));
    }, { once: true });
  });
  dialog.showModal();
  input.focus();
  return asking;
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(response.status, 'not_json', `The mock answered ${response.status} with a body that is not JSON.`);
  }
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.code || 'error', error.message || `HTTP ${response.status}`);
  }
  return body;
}

function request(method, path, headers, body) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(path, init);
}

/**
 * A control API call (`/__mock__/...`). A 401 asks for the control token once (a poll does
 * not ask again after the person closed the dialog: `interactive` calls do) and repeats the call.
 */
export async function control(method, path, body, { interactive = true } = {}) {
  if (!path.startsWith('/__mock__/')) throw new Error(`not a control path: ${path}`);
  for (let attempt = 0; ; attempt += 1) {
    const token = controlToken();
    const response = await request(method, path, token ? { Authorization: `Bearer ${token}` } : {}, body);
    if (response.status === 401 && attempt === 0 && (interactive || !declined)) {
      const reason = token ? 'The mock refused the control token you entered.' : 'The mock was started with a control token.';
      if (await askForControlToken(reason)) continue;
    }
    if (response.status === 401) document.dispatchEvent(new CustomEvent('control-locked'));
    return parse(response);
  }
}

/** A call to the events API as a principal (its bearer token), the way an app makes it. */
export async function asPrincipal(method, path, bearer) {
  return parse(await request(method, path, { Authorization: `Bearer ${bearer}` }));
}

/** The claims of a JWT (no signature check: the page shows what the token says). */
export function claimsOf(jwt) {
  const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(part + '='.repeat((4 - (part.length % 4)) % 4)), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** Run `task` now and then every `ms` while the page is visible, one run at a time. */
export function every(ms, task) {
  let running = false;
  const tick = async () => {
    if (running || document.hidden) return;
    running = true;
    try {
      await task();
      document.dispatchEvent(new CustomEvent('mock-answers'));
    } catch (error) {
      // A stopped mock or a refused call: said once on the page, never an uncaught error.
      document.dispatchEvent(new CustomEvent('mock-problem', { detail: error }));
    } finally {
      running = false;
    }
  };
  tick();
  const timer = setInterval(tick, ms);
  document.addEventListener('visibilitychange', tick);
  return () => { clearInterval(timer); document.removeEventListener('visibilitychange', tick); };
}
