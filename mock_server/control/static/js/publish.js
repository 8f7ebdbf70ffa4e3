// The publish form, generated from the spec's `webhooks` (GET /__mock__/event_types): one
// field per property of the type's data schema, pre-filled with the spec's example, each
// checked against its schema before anything is sent. The mock checks the event again.
import { ApiError, control } from './api.js';
import { badge, fill, h } from './dom.js';

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function kindOf(schema) {
  if (Array.isArray(schema.enum)) return 'enum';
  if ('const' in schema) return 'const';
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (['string', 'integer', 'number', 'boolean'].includes(type)) return type;
  return 'json';
}

/** What is wrong with `raw` for `schema` ('' when nothing); `value` is set on success. */
export function check(raw, schema, required) {
  const kind = kindOf(schema);
  if (raw === '' || raw === undefined) return { problem: required ? 'Required.' : '', empty: true };
  let value = raw;
  if (kind === 'integer' || kind === 'number') {
    value = Number(raw);
    if (!Number.isFinite(value)) return { problem: 'Must be a number.' };
    if (kind === 'integer' && !Number.isInteger(value)) return { problem: 'Must be a whole number.' };
    if (schema.minimum !== undefined && value < schema.minimum) return { problem: `Must be at least ${schema.minimum}.` };
    if (schema.maximum !== undefined && value > schema.maximum) return { problem: `Must be at most ${schema.maximum}.` };
  } else if (kind === 'boolean') {
    value = raw === true || raw === 'true';
  } else if (kind === 'json') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { problem: 'Must be JSON.' };
    }
  } else if (kind === 'string') {
    if (schema.minLength !== undefined && raw.length < schema.minLength) return { problem: `At least ${schema.minLength} characters.` };
    if (schema.maxLength !== undefined && raw.length > schema.maxLength) return { problem: `At most ${schema.maxLength} characters.` };
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(raw)) return { problem: `Must match ${schema.pattern}.` };
    if (schema.format === 'date-time' && (!DATE_TIME.test(raw) || Number.isNaN(Date.parse(raw)))) {
      return { problem: 'Must be an ISO-8601 instant, e.g. 2026-01-01T12:00:00Z.' };
    }
  } else if (kind === 'enum' && !schema.enum.map(String).includes(raw)) {
    return { problem: `One of ${schema.enum.join(', ')}.` };
  } else if (kind === 'enum') {
    value = schema.enum.find((option) => String(option) === raw);
  }
  return { problem: '', value };
}

function control_(name, schema, required, example) {
  const id = `data-${name}`;
  const kind = kindOf(schema);
  const initial = example === undefined ? '' : example;
  let input;
  if (kind === 'enum') {
    input = h('select', { id, name },
      required ? null : h('option', { value: '' }, '(none)'),
      schema.enum.map((option) => h('option', { value: String(option), selected: option === initial }, String(option))));
  } else if (kind === 'boolean') {
    input = h('select', { id, name },
      required ? null : h('option', { value: '' }, '(none)'),
      h('option', { value: 'true', selected: initial === true }, 'true'),
      h('option', { value: 'false', selected: initial === false }, 'false'));
  } else if (kind === 'json' || kind === 'const') {
    input = h('textarea', { id, name, rows: '3', spellcheck: 'false' },
      initial === '' ? '' : JSON.stringify(kind === 'const' ? schema.const : initial, null, 1));
  } else {
    input = h('input', {
      id, name, type: kind === 'string' ? 'text' : 'number', spellcheck: 'false', autocomplete: 'off',
      value: String(initial), step: kind === 'integer' ? '1' : (kind === 'number' ? 'any' : undefined),
      maxlength: schema.maxLength !== undefined ? String(schema.maxLength) : undefined,
    });
  }
  const help = [kind === 'json' ? 'JSON' : (schema.type || kind), schema.pattern ? `matching ${schema.pattern}` : '',
    schema.format || '', schema.minimum !== undefined ? `≥ ${schema.minimum}` : ''].filter(Boolean).join(', ');
  const error = h('p', { class: 'error', id: `${id}-error`, 'aria-live': 'polite' });
  input.setAttribute('aria-describedby', `${id}-help ${id}-error`);
  if (required) input.setAttribute('aria-required', 'true');
  const field = h('div', { class: 'field' },
    h('label', { for: id }, name, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    input, h('p', { class: 'hint', id: `${id}-help` }, help), error);
  const read = () => (kind === 'json' || kind === 'const' ? input.value.trim() : input.value);
  field.validate = () => {
    const result = kind === 'const'
      ? check(read(), {}, required)
      : check(read(), schema, required);
    input.setCustomValidity(result.problem);
    if (result.problem) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    error.textContent = result.problem;
    return result;
  };
  field.input = input;
  field.name = name;
  return field;
}

export function initPublish(app) {
  const form = document.getElementById('publish-form');
  const typeSelect = document.getElementById('publish-type');
  const summary = document.getElementById('publish-type-summary');
  const orgSelect = document.getElementById('publish-org');
  const channel = document.getElementById('publish-channel');
  const channelError = document.getElementById('publish-channel-error');
  const channels = document.getElementById('publish-channels');
  const fieldsBox = document.getElementById('publish-fields');
  const preview = document.getElementById('publish-preview');
  const result = document.getElementById('publish-result');
  let fields = [];

  const type = () => app.eventTypes.find((t) => t.type === typeSelect.value);
  const target = () => form.elements.target.value;

  fill(typeSelect, app.eventTypes.map((t) => h('option', { value: t.type }, `${t.type} (${t.namespace})`)));

  function buildFields() {
    const t = type();
    summary.textContent = t.summary || '';
    const schema = t.data_schema || {};
    const required = new Set(schema.required || []);
    const example = t.example || {};
    fields = Object.entries(schema.properties || {}).map(([name, sub]) => control_(name, sub, required.has(name), example[name]));
    fill(fieldsBox, fields);
    refreshChannels();
    updatePreview();
  }

  function refreshChannels() {
    const t = type();
    if (!t || !app.state) return;
    const options = [];
    for (const org of app.state.organisations) {
      options.push(`${t.namespace}:${org.id}`);
      for (const p of app.principals.filter((x) => x.org_id === org.id)) options.push(`${t.namespace}:${org.id}#${p.user_id}`);
    }
    fill(channels, [...new Set(options)].map((c) => h('option', { value: c })));
  }

  function refreshOrgs() {
    const chosen = orgSelect.value;
    const json = JSON.stringify(app.state.organisations.map((o) => [o.id, o.provisioned]));
    if (orgSelect.dataset.json === json) return;
    orgSelect.dataset.json = json;
    fill(orgSelect, app.state.organisations.map((o) => h('option', { value: o.id, selected: o.id === chosen },
      `${o.id}${o.provisioned ? '' : ' (not provisioned)'}`)));
    if (!chosen) {
      const first = app.state.organisations.find((o) => o.provisioned);
      if (first) orgSelect.value = first.id;
    }
    refreshChannels();
  }

  function body() {
    const data = {};
    for (const field of fields) {
      const { value, empty, problem } = field.validate();
      if (!empty && !problem) data[field.name] = value;
    }
    const where = target() === 'channel' ? { channel: channel.value.trim() } : { organisation: orgSelect.value };
    return { type: typeSelect.value, ...where, data };
  }

  function checkChannel() {
    const t = type();
    let problem = '';
    if (target() === 'channel') {
      const value = channel.value.trim();
      if (!value) problem = 'Required.';
      else if (!value.startsWith(`${t.namespace}:`)) problem = `${t.type} events go to the ${t.namespace} namespace: ${t.namespace}:org_…`;
    }
    channel.setCustomValidity(problem);
    if (problem) channel.setAttribute('aria-invalid', 'true'); else channel.removeAttribute('aria-invalid');
    channelError.textContent = problem;
    return !problem;
  }

  function updatePreview() {
    preview.textContent = JSON.stringify(body(), null, 2);
  }

  form.addEventListener('input', (event) => {
    if (event.target === typeSelect) return;
    if (event.target === channel) checkChannel();
    updatePreview();
  });
  form.addEventListener('change', (event) => {
    if (event.target === typeSelect) buildFields();
    if (event.target.name === 'target') {
      document.getElementById('publish-org-field').hidden = target() !== 'organisation';
      document.getElementById('publish-channel-field').hidden = target() !== 'channel';
      checkChannel();
    }
    updatePreview();
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fill(result); // the answer shown is always this request's
    const request = body();
    updatePreview();
    const channelOk = checkChannel();
    const invalid = fields.filter((f) => f.input.validationMessage);
    if (invalid.length || !channelOk) {
      fill(result, h('p', { class: 'error' }, 'Not sent: fix the fields marked above.'));
      (invalid[0] ? invalid[0].input : channel).focus();
      return;
    }
    const button = document.getElementById('publish-button');
    button.disabled = true;
    try {
      const published = await control('POST', '/__mock__/events', request);
      const deliveries = published.webhooks ? published.webhooks.deliveries.length : 0;
      const realtime = published.realtime ? (published.realtime.published ? 'published to the realtime server' : 'realtime: not published') : 'realtime off';
      fill(result, h('p', { class: 'ok-text', dataset: { event: published.event.id } },
        badge('201', 'ok'), ' Published ', h('code', {}, published.event.id), ' on ', h('code', {}, published.channel),
        ` · ${realtime} · ${deliveries} webhook deliver${deliveries === 1 ? 'y' : 'ies'}`));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fill(result, h('p', { class: 'error' }, badge(String(error.status), 'warn'), ' ', h('code', {}, error.code), ' ', error.message));
    } finally {
      button.disabled = false;
    }
  });

  app.addEventListener('state', refreshOrgs);
  app.addEventListener('principals', refreshChannels);
  refreshOrgs();
  buildFields();
}
