'use strict';
// A libpq "key=value" connection string (CACHEASIDE_DSN) as a connection
// config for node-postgres, postgres.js and knex: dbname becomes database,
// port a number; keys it does not give keep the defaults passed.
function parseDsn(dsn, defaults = {}) {
  const cfg = { ...defaults };
  for (const part of dsn.trim().split(/\s+/)) {
    const i = part.indexOf('=');
    const k = part.slice(0, i);
    const v = part.slice(i + 1);
    if (k === 'dbname') cfg.database = v;
    else if (k === 'port') cfg.port = Number(v);
    else cfg[k] = v;
  }
  return cfg;
}

module.exports = { parseDsn };
