'use strict';
// The driver matrix, Node.js side: cache_aside_query through node-postgres
// (pg), postgres.js (postgres) and knex, as each one's documentation writes
// a query with parameters, without casts.
//
//   CACHEASIDE_DSN="host=127.0.0.1 port=5432 dbname=postgres user=postgres" \
//     NODE_PATH=/path/to/node_modules node --test test_drivers.js
//
// postgres.js needs sql.array() for arrays (README); the matrix uses it, and
// CACHEASIDE_AS_WRITTEN=1 passes plain arrays (bench/drivers.py counts the
// calls that pass as written, before and after).
//
// Each case of driver_cases.json is called twice: the rows must equal those
// of the cached SQL sent directly through the same client with the same
// values, and the second call must be a hit (cache_stats).  All three send
// most values without a type; the server types them cache_untyped and
// cache_aside_query gives them the type the cached SQL gives its $n.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const pg = require('pg');
const postgres = require('postgres');
const knexLib = require('knex');
const { parseDsn } = require('./dsn');

const DSN = process.env.CACHEASIDE_DSN;
const TTL = 300;
// 1: postgres.js arrays as plain arrays, not sql.array() (bench/drivers.py)
const AS_WRITTEN = process.env.CACHEASIDE_AS_WRITTEN === '1';
const PREFIX = `drvjs${process.pid}:`;
const CASES = JSON.parse(fs.readFileSync(path.join(__dirname, 'driver_cases.json'), 'utf8'));

// The JavaScript value of a case parameter, as an application has it
function plain(param) {
  const [kind, v] = Object.entries(param)[0];
  switch (kind) {
    case 'bigint': return BigInt(v);
    case 'numeric': return Number(v);
    case 'timestamptz': return new Date(v);
    default: return v; // str, uuid, uuid_str, date (a string), int, float,
    // bool, arrays, null, json (an object)
  }
}

function decoded(value) {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

const directSql = (sql) => `SELECT coalesce(json_agg(q), '[]'::json) AS r FROM (${sql}) q`;

// node-postgres does not know BigInt: its text is what it would send
function pgValue(v) {
  return typeof v === 'bigint' ? v.toString() : v;
}

const clients = {
  'node-postgres': {
    async open(cfg) { this.c = new pg.Client(cfg); await this.c.connect(); },
    async close() { await this.c.end(); },
    value: (p) => pgValue(plain(p)),
    async call(key, sql, values) {
      const ph = values.map((_, i) => `, $${i + 4}`).join('');
      const res = await this.c.query(`SELECT cache_aside_query($1, $2, $3${ph}) AS r`,
        [key, sql, TTL, ...values]);
      return res.rows[0].r;
    },
    async direct(sql, values) {
      return (await this.c.query(directSql(sql), values)).rows[0].r;
    },
  },
  'postgres.js': {
    async open(cfg) {
      this.sql = postgres({ host: cfg.host, port: cfg.port, user: cfg.user,
        database: cfg.database, max: 1, onnotice: () => {} });
    },
    async close() { await this.sql.end(); },
    value(p) {
      const v = plain(p);
      if ('json' in p) return this.sql.json(v);
      // postgres.js writes an array as an array only for a parameter of an
      // array type: bound to cache_untyped, sql.array(values, element type
      // OID) says which (text[] without the OID)
      if ('int_array' in p && !AS_WRITTEN) return this.sql.array(v, 23);
      if ('text_array' in p && !AS_WRITTEN) return this.sql.array(v);
      return v;
    },
    async call(key, text, values) {
      const sql = this.sql;
      // the call as postgres.js writes it: a tagged template
      let rows;
      switch (values.length) {
        case 1:
          rows = await sql`SELECT cache_aside_query(${key}, ${text}, ${TTL}, ${values[0]}) AS r`;
          break;
        case 2:
          rows = await sql`SELECT cache_aside_query(${key}, ${text}, ${TTL}, ${values[0]}, ${values[1]}) AS r`;
          break;
        case 3:
          rows = await sql`SELECT cache_aside_query(${key}, ${text}, ${TTL}, ${values[0]}, ${values[1]}, ${values[2]}) AS r`;
          break;
        default:
          throw new Error('add a template for this many parameters');
      }
      return rows[0].r;
    },
    async direct(text, values) {
      return (await this.sql.unsafe(directSql(text), values))[0].r;
    },
  },
  knex: {
    async open(cfg) {
      this.knex = knexLib({ client: 'pg', connection: cfg, pool: { min: 0, max: 1 } });
    },
    async close() { await this.knex.destroy(); },
    value: (p) => pgValue(plain(p)),
    async call(key, sql, values) {
      const ph = values.map(() => ', ?').join('');
      const res = await this.knex.raw(`SELECT cache_aside_query(?, ?, ?${ph}) AS r`,
        [key, sql, TTL, ...values]);
      return res.rows[0].r;
    },
    async direct(sql, values) {
      // knex's named placeholders, numbered $n by knex for pg
      const named = {};
      values.forEach((v, i) => { named[`p${i + 1}`] = v; });
      const res = await this.knex.raw(directSql(sql.replace(/\$(\d+)/g, ':p$1')), named);
      return res.rows[0].r;
    },
  },
};

let admin;

async function hits(sql) {
  const res = await admin.query(
    `SELECT coalesce(sum(hits), 0)::int AS h FROM cache_stats
      WHERE query = $1 AND userid = current_user::regrole
        AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [sql]);
  return res.rows[0].h;
}

const cfg = DSN ? parseDsn(DSN, { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' }) : null;

test.describe('driver matrix', { skip: !DSN && 'CACHEASIDE_DSN is not set' }, () => {
  test.before(async () => {
    admin = new pg.Client(cfg);
    await admin.connect();
    await admin.query('CREATE EXTENSION IF NOT EXISTS cacheaside');
    for (const stmt of CASES.setup) await admin.query(stmt);
  });
  test.after(async () => {
    await admin.query('SELECT cache_invalidate($1)', [`${PREFIX}*`]);
    await admin.end();
  });

  for (const [name, client] of Object.entries(clients)) {
    test.describe(name, () => {
      test.before(async () => { await client.open(cfg); });
      test.after(async () => { await client.close(); });
      for (const c of CASES.cases) {
        test(`${name} ${c.name}`, async () => {
          const values = c.params.map((p) => client.value(p));
          const key = `${PREFIX}${name}:${c.name}`;
          const want = decoded(await client.direct(c.sql, values));
          const before = await hits(c.sql);
          const first = decoded(await client.call(key, c.sql, values));
          const second = decoded(await client.call(key, c.sql, values));
          assert.deepEqual(first, want, 'first call (a miss)');
          assert.deepEqual(second, want, 'second call');
          assert.equal(await hits(c.sql) - before, 1, 'the second call is a hit');
        });
      }
    });
  }
});
