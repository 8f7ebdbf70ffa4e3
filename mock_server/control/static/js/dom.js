// Building DOM nodes without innerHTML: every value the mock returns (event data, URLs,
// names) goes in as text, so nothing it holds can become markup or script.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const renderedWith = new WeakMap();

/** Render `data` into `el` unless it is what `el` already shows (polling stays cheap). */
export function renderIfChanged(el, data, render) {
  const key = JSON.stringify(data);
  if (renderedWith.get(el) === key) return false;
  renderedWith.set(el, key);
  fill(el, render(data));
  return true;
}

/**
 * Rows keyed by id: a row whose data did not change keeps its node (a button in it is never
 * swapped out under the pointer); new, changed and removed rows are updated in order.
 */
export function keyedRows(container, items, keyOf, render) {
  const old = new Map([...container.children].map((row) => [row.dataset.key, row]));
  const rows = items.map((item) => {
    const key = String(keyOf(item));
    const json = JSON.stringify(item);
    const kept = old.get(key);
    if (kept && kept.dataset.json === json) return kept;
    const row = render(item);
    row.dataset.key = key;
    row.dataset.json = json;
    return row;
  });
  rows.forEach((row, i) => {
    if (container.children[i] !== row) container.insertBefore(row, container.children[i] || null);
  });
  while (container.children.length > rows.length) container.lastElementChild.remove();
}

let toastTimer;
/** A short message in the page's live region (read out by screen readers). */
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  el.className = `toast toast-${kind}`;
  el.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.textContent = ''; el.className = 'toast'; }, 6000);
}

/** A button that copies `text()` to the clipboard; `label` names what it copies. */
export function copyButton(text, label) {
  return h('button', {
    type: 'button', class: 'small', 'aria-label': `Copy ${label}`,
    onclick: async (event) => {
      const button = event.currentTarget;
      try {
        await navigator.clipboard.writeText(typeof text === 'function' ? text() : text);
        button.textContent = 'Copied';
        toast(`Copied ${label}.`, 'ok');
      } catch {
        toast(`Could not copy ${label}: select it and copy it by hand.`, 'error');
      }
      setTimeout(() => { button.textContent = 'Copy'; }, 1500);
    },
  }, 'Copy');
}

/** 2026-01-01T00:00:00Z -> 00:00:00 (the full instant in the title). */
export function timeOf(iso) {
  if (!iso) return '';
  const match = /T(\d\d:\d\d:\d\d)/.exec(iso);
  return h('time', { datetime: iso, title: iso }, match ? match[1] : iso);
}

export function badge(text, kind = 'neutral') {
  return h('span', { class: `badge badge-${kind}` }, text);
}

export function statusKind(status) {
  if (status >= 500) return 'bad';
  if (status >= 400) return 'warn';
  return 'ok';
}

/** A table inside a focusable scrolling region, so narrow screens scroll it, not the page. */
export function scrollTable(label, head, body) {
  return h('div', { class: 'scroll', role: 'region', 'aria-label': label, tabindex: '0' },
    h('table', {},
      h('thead', {}, h('tr', {}, head.map((name) => h('th', { scope: 'col' }, name)))),
      body));
}

export function seconds(n) {
  const abs = Math.abs(n);
  if (abs < 120) return `${n} s`;
  if (abs < 7200) return `${Math.round(n / 60)} min`;
  if (abs < 172800) return `${Math.round(n / 3600)} h`;
  return `${Math.round(n / 86400)} days`;
}
