'use strict';
// Driver test: cache_aside_query called through node-postgres (npm "pg").
//
//   CACHEASIDE_DSN="host=127.0.0.1 port=5432 dbname=postgres user=postgres" \
//     NODE_PATH=/path/to/node_modules node --test test_node_pg.js
//
// node-postgres binds parameters on the server (extended protocol) without
// types.  Before 1.3 PostgreSQL could not infer a type for a parameter passed
// to a VARIADIC "any" argument, so callers wrote $4::int and so on; that is
// what these tests do, for several types: such casts keep working (typed
// parameters).  test_drivers.js makes the same calls without casts.  Each result is compared with what
// PostgreSQL computes for
//
//   SELECT coalesce(json_agg(q), '[]'::json) FROM (<sql>) q
//
// with $n cast to the same types, on a miss and again on a hit: as text
// without the layout whitespace (key order, number scale and escapes must
// match exactly), and parsed.  The server preloads cacheaside as users run
// it; the test of explicit invalidation turns automatic invalidation off for
// its session, and the test of automatic invalidation skips itself on a
// server without it.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Client } = require('pg');
const { parseDsn } = require('./dsn');

const DSN = process.env.CACHEASIDE_DSN;
const prefix = `js${process.pid}:`;

// JSON text without whitespace outside strings
function jsonNorm(text) {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|\s+|[^\s"]+/gs) || [];
  return tokens.filter((t) => !/^\s/.test(t)).join('');
}

let client;

async function one(text, values) {
  const res = await client.query({ text, values, rowMode: 'array' });
  return res.rows[0][0];
}

// call cache_aside_query; params are [value, type] pairs
function call(key, sql, params, ttl, asText = true) {
  const casts = params.map(([, type], i) => `, $${i + 4}::${type}`).join('');
  return one(
    `SELECT cache_aside_query($1, $2, $3${casts})${asText ? '::text' : ''}`,
    [key, sql, ttl, ...params.map(([v]) => v)],
  );
}

function truth(sql, params) {
  const typed = sql.replace(/\$(\d+)/g, (m, n) => `(${m}::${params[Number(n) - 1][1]})`);
  return one(
    `SELECT coalesce(json_agg(q), '[]'::json)::text FROM (${typed}) q`,
    params.map(([v]) => v),
  );
}

async function check(name, sql, params = [], ttl = null) {
  const key = prefix + name;
  const expected = await truth(sql, params);
  assert.equal(await one('SELECT cache_get_ttl($1)', [key]), null, 'no entry before the first call');

  const miss = await call(key, sql, params, ttl);
  assert.equal(jsonNorm(miss), jsonNorm(expected), 'miss: JSON text');
  assert.deepEqual(JSON.parse(miss), JSON.parse(expected), 'miss: parsed');

  const left = await one('SELECT cache_get_ttl($1)', [key]);
  assert.ok(left > 0, `the miss stored an entry (ttl ${left})`);

  const hit = await call(key, sql, params, ttl);
  assert.equal(hit, miss, 'a hit returns the same text the miss returned');

  const parsed = await call(key, sql, params, ttl, false);
  assert.deepEqual(parsed, JSON.parse(expected), 'node-postgres decodes the json result');
  return miss;
}

test.describe('cache_aside_query through node-postgres', { skip: !DSN && 'CACHEASIDE_DSN is not set' }, () => {
  test.before(async () => {
    client = new Client(parseDsn(DSN));
    await client.connect();
    await client.query('CREATE EXTENSION IF NOT EXISTS cacheaside');
    await client.query(`
      DROP TABLE IF EXISTS ca_js_items;
      CREATE TABLE ca_js_items (id int PRIMARY KEY, label text, price numeric(8,2));
      INSERT INTO ca_js_items VALUES (1, 'one', 1.50), (2, 'two', 20.00), (3, 'three', NULL);
    `);
  });

  test.after(async () => {
    if (!client) return;
    try {
      await client.query('SELECT cache_invalidate($1)', [`${prefix}*`]);
      await client.query('DROP TABLE IF EXISTS ca_js_items');
    } finally {
      await client.end();
    }
  });

  test.it('no parameters', async () => {
    await check('noparams', "SELECT id, label, price FROM ca_js_items ORDER BY id", [], 60);
  });

  test.it('integer parameter', async () => {
    await check('int', 'SELECT g AS n, g * 1.50 AS price FROM generate_series(1, $1) g', [[3, 'int']]);
  });

  test.it('text parameter with quotes, backslash and non-ASCII', async () => {
    await check('text', 'SELECT $1 AS s, length($1) AS len', [['h\u00e9llo "q" \\ \t end', 'text']]);
  });

  test.it('numeric parameter keeps its scale', async () => {
    const text = await check('numeric', 'SELECT $1 AS amount, $1 * 2 AS twice', [['12.340', 'numeric']]);
    assert.ok(text.includes('12.340'));
  });

  test.it('bigint, boolean and null parameters', async () => {
    await check('mixed', 'SELECT $1 AS big, $2 AS flag, $3 IS NULL AS missing',
      [['1099511627776', 'bigint'], [true, 'boolean'], [null, 'int']]);
  });

  test.it('date and timestamptz parameters', async () => {
    await check('dates', 'SELECT $1 AS d, $1 + 1 AS next_day, $2 AS ts',
      [['2024-02-29', 'date'], ['2024-02-29 12:30:15.25+00', 'timestamptz']]);
  });

  test.it('array parameter', async () => {
    await check('array', 'SELECT x FROM unnest($1) AS x ORDER BY x', [[[3, 1, 2], 'int[]']]);
  });

  test.it('jsonb parameter', async () => {
    await check('jsonb', "SELECT $1 -> 'a' AS a, $1 AS doc",
      [[JSON.stringify({ a: [1, 2.5, null], b: 'x' }), 'jsonb']]);
  });

  test.it('two text parameters selecting rows of a table', async () => {
    const text = await check('rows', 'SELECT id, label, price FROM ca_js_items WHERE label = $1 OR label = $2 ORDER BY id',
      [['one', 'text'], ['three', 'text']], 600);
    assert.equal(JSON.parse(text).length, 2);
  });

  test.it('empty result is []', async () => {
    const text = await check('empty', 'SELECT id FROM ca_js_items WHERE id > $1', [[100, 'int']]);
    assert.deepEqual(JSON.parse(text), []);
  });

  test.it('a hit is served from the cache until invalidated', async () => {
    const key = `${prefix}served`;
    const sql = 'SELECT id, label FROM ca_js_items WHERE id = $1';
    // by TTL only: the UPDATE below must not invalidate by itself
    await client.query('SET cacheaside.auto_invalidate = off');
    const before = await call(key, sql, [[2, 'int']], null);
    await client.query("UPDATE ca_js_items SET label = 'deux' WHERE id = 2");
    try {
      assert.equal(await call(key, sql, [[2, 'int']], null), before);
      assert.equal(await one('SELECT cache_invalidate($1)', [key]), '1');
      const after = await call(key, sql, [[2, 'int']], null);
      assert.ok(after.includes('deux'));
    } finally {
      await client.query("UPDATE ca_js_items SET label = 'two' WHERE id = 2");
      await client.query('RESET cacheaside.auto_invalidate');
    }
  });

  test.it('a committed write makes the next call a miss', async (t) => {
    if (!(await one('SHOW shared_preload_libraries')).includes('cacheaside')) {
      t.skip('the server does not preload cacheaside');
      return;
    }
    const key = `${prefix}autoinval`;
    const sql = 'SELECT id, label FROM ca_js_items WHERE id = $1';
    const before = await call(key, sql, [[1, 'int']], null);
    assert.equal(await call(key, sql, [[1, 'int']], null), before, 'a hit');
    await client.query("UPDATE ca_js_items SET label = 'un' WHERE id = 1");
    try {
      const after = await call(key, sql, [[1, 'int']], null);
      assert.ok(after.includes('un'), 'the committed UPDATE made the entry a miss');
      assert.equal(jsonNorm(after), jsonNorm(await truth(sql, [[1, 'int']])));
    } finally {
      await client.query("UPDATE ca_js_items SET label = 'one' WHERE id = 1");
    }
  });
});
