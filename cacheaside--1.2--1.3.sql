/* cacheaside--1.2--1.3.sql: objects added in 1.3 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cacheaside UPDATE TO '1.3'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Drivers without casts (untyped.c): the type PostgreSQL gives parameters a
-- driver sent without a type when they are bound to cache_aside_query's
-- VARIADIC "any".  Text-like: text's I/O functions, in text and binary
-- formats.  cache_aside_query infers the type the cached SQL gives them.
-- ---------------------------------------------------------------------------

CREATE TYPE cache_untyped;

CREATE FUNCTION cache_untyped_in(cstring) RETURNS cache_untyped
AS 'textin' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cache_untyped_out(cache_untyped) RETURNS cstring
AS 'textout' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cache_untyped_recv(internal) RETURNS cache_untyped
AS 'textrecv' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cache_untyped_send(cache_untyped) RETURNS bytea
AS 'textsend' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE cache_untyped (
	INPUT = cache_untyped_in,
	OUTPUT = cache_untyped_out,
	RECEIVE = cache_untyped_recv,
	SEND = cache_untyped_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	CATEGORY = 'X'
);

COMMENT ON TYPE cache_untyped IS
'a parameter sent without a type to cache_aside_query: its text, given the type the cached SQL gives that parameter';
