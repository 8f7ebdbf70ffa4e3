// The publish form's field checks (mock_server/control/static/js/publish.js), run by Node's
// test runner from tests/test_dashboard.py: what the form refuses before anything is sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check } from '../../mock_server/control/static/js/publish.js';

const id = { type: 'string', pattern: '^shp_[0-9A-Za-z]{27}$' };

test('a required field left empty is refused, an optional one is left out', () => {
  assert.equal(check('', id, true).problem, 'Required.');
  assert.deepEqual(check('', id, false), { problem: '', empty: true });
});

test('patterns are matched as ECMA-262 regular expressions, anchored as written', () => {
  assert.equal(check('shp_2iFmwXASMpS3l4IZsauPs8I1eOv', id, true).problem, '');
  assert.match(check('shp_short', id, true).problem, /^Must match/);
  assert.match(check('shp_2iFmwXASMpS3l4IZsauPs8I1eOv\n', id, true).problem, /^Must match/);
});

test('lengths, numbers and their bounds', () => {
  assert.match(check('x'.repeat(65), { type: 'string', maxLength: 64 }, false).problem, /At most 64/);
  assert.deepEqual(check('3', { type: 'integer', minimum: 0 }, true), { problem: '', value: 3 });
  assert.match(check('-1', { type: 'integer', minimum: 0 }, true).problem, /at least 0/);
  assert.match(check('1.5', { type: 'integer' }, true).problem, /whole number/);
  assert.match(check('abc', { type: 'number' }, true).problem, /a number/);
});

test('date-times, enums and JSON', () => {
  const when = { type: 'string', format: 'date-time' };
  assert.equal(check('2026-12-01T15:00:00Z', when, false).problem, '');
  assert.match(check('2026-12-01 15:00', when, false).problem, /ISO-8601/);
  assert.match(check('2026-13-45T99:00:00Z', when, false).problem, /ISO-8601/);
  const status = { enum: ['booked', 'delivered'] };
  assert.deepEqual(check('delivered', status, true), { problem: '', value: 'delivered' });
  assert.match(check('lost', status, true).problem, /One of booked, delivered/);
  assert.deepEqual(check('{"a": [1]}', { type: 'object' }, false), { problem: '', value: { a: [1] } });
  assert.equal(check('{nope', { type: 'object' }, false).problem, 'Must be JSON.');
});
