/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *	  What identifies the computation behind a cache entry.
 *
 * A cache entry may be served only to a call that would have computed the
 * same JSON.  The fingerprint is a SHA-256 over everything that decides
 * that JSON and is cheap to know before running the query:
 *
 *	- the role whose privileges the query would run with (GetUserId()):
 *	  results can depend on it (current_user in a view, policies), so two
 *	  roles never share an entry;
 *	- the cluster (system identifier) and the database, so that clusters
 *	  sharing a Redis under the same prefix never serve each other's rows
 *	  (a primary and its physical standbys share both, and may share
 *	  entries);
 *	- the SQL text;
 *	- each parameter's type and value, in its text form; an untyped
 *	  parameter (query.c) counts as of type unknown, whatever type the SQL
 *	  gives it: untyped calls never share entries with typed ones, and no
 *	  hit needs the SQL analyzed to know the types;
 *	- the schemas the search path resolves to, all of them;
 *	- once the session has a temporary schema, which can hide objects of
 *	  the schemas after it (for relations and types it comes first unless
 *	  search_path places it), the session itself (process ID and start
 *	  time), the search_path setting as written (where pg_temp stands) and
 *	  a count of the objects this session created, dropped or altered
 *	  since it began (fingerprint_objects_changed): the entries of such a
 *	  session are its own, and a temporary object it creates later makes
 *	  them misses, since a name could now resolve to that object;
 *	- the settings that change how values are parsed or rendered.
 *
 * An entry whose fingerprint differs from the call's is a miss.
 *
 * The hash input is three parts: the session's (role, cluster, database)
 * first, then the call's (SQL text and parameters), then the session's
 * again (search path and settings).  A session usually repeats the same
 * few calls under the same settings, so the session's parts are built once
 * and kept with the values they were built from, which each call compares
 * (a few integers and short strings, read from their C variables rather
 * than looked up by name); only the call's part is built each time.  The
 * fingerprints of the last call parts (up to FP_CACHE_INPUT_MAX bytes
 * each) are kept in a small cache keyed by that whole part and the
 * generation of the session's parts, so a repeated call costs a CRC and a
 * memcmp instead of a SHA-256.  The bytes hashed are the same as when the
 * whole input was written each time: fingerprints do not change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/gin.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_expr.h"
#include "parser/parser.h"
#include "pgtime.h"
#include "port/pg_crc32c.h"
#include "tsearch/ts_cache.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_locale.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/xml.h"

#include "fingerprint.h"

/* Bumped when what goes into the hash changes */
#define FINGERPRINT_VERSION "cacheaside fingerprint 3"

#define MAX_SEARCH_PATH 64

/* Cache of recent fingerprints, keyed by their call part */
#define FP_CACHE_SIZE		32
#define FP_CACHE_INPUT_MAX	4096

typedef struct FingerprintCacheEntry
{
	pg_crc32c	hash;			/* CRC-32C of the call part */
	int			len;
	uint64		generation;		/* of the session's parts it was made with */
	char	   *input;			/* in TopMemoryContext, or NULL */
	uint8		fingerprint[FINGERPRINT_LEN];
} FingerprintCacheEntry;

static FingerprintCacheEntry fp_cache[FP_CACHE_SIZE];

/*
 * Is \' refused in an E'' literal?  backslash_quote off, or at its default
 * (safe_encoding) with a client encoding whose multibyte characters can
 * end in a backslash byte (SJIS, BIG5, GBK...), as the scanner decides.
 */
static bool
backslash_quote_off(void)
{
	return backslash_quote == BACKSLASH_QUOTE_OFF ||
		(backslash_quote == BACKSLASH_QUOTE_SAFE_ENCODING &&
		 PG_ENCODING_IS_CLIENT_ONLY(pg_get_client_encoding()));
}

/* Settings that change how values are rendered or how the SQL is read */
typedef struct FingerprintSettings
{
	int32		date_style;
	int32		date_order;
	int32		interval_style;
	int32		extra_float_digits;
	int32		bytea_output;
	int32		xmlbinary;
	int32		xmloption;
	bool		standard_conforming_strings;
	bool		transform_null_equals;
	bool		array_nulls;
} FingerprintSettings;

/* The string settings, in the order they are hashed */
#define FP_NSTRINGS 5

/*
 * What the session's parts were built from, and the parts themselves (in
 * TopMemoryContext).  generation is 0 until they are first built, and
 * changes each time they are built again.
 */
typedef struct FingerprintSession
{
	uint64		generation;
	Oid			role;
	int32		npath;
	Oid		   *path;			/* npath of them, in TopMemoryContext */
	Oid			temp_namespace; /* InvalidOid: none */
	uint64		objects_changed;	/* fp_objects_changed then */
	FingerprintSettings settings;
	char	   *strings[FP_NSTRINGS];	/* copies, "" for none */
	char	   *search_path;	/* copy, when temp_namespace is valid */
	bool		quote_all;		/* quote_all_identifiers */
	bool		backslash_quote_off;	/* backslash_quote_off() */
	int			gin_fuzzy;		/* gin_fuzzy_search_limit */
	char	   *tz_abbrevs;		/* copy of timezone_abbreviations */
	StringInfoData head;		/* version, cluster, database, role */
	StringInfoData tail;		/* search path, settings, strings */
} FingerprintSession;

static FingerprintSession fp_session;
static uint64 fp_last_generation = 0;

/* Objects this session created, dropped or altered (object access hook) */
static uint64 fp_objects_changed = 0;
static bool fp_objects_changed_in_xact = false;	/* by this transaction */

/*
 * The buffer of the call part, reused (in TopMemoryContext); given back
 * after a call that made it larger than FP_CALL_BUF_KEEP.
 */
#define FP_CALL_BUF_KEEP	(64 * 1024)
static StringInfoData fp_call_buf;
static bool fp_call_buf_busy = false;

/*
 * appendBinaryStringInfo, inline while there is room (every call of the
 * function appends several small fields).  No terminating zero: the input
 * is hashed by length.
 */
static inline void
append_bytes(StringInfo buf, const void *data, size_t len)
{
	if (len < (size_t) (buf->maxlen - buf->len))
	{
		memcpy(buf->data + buf->len, data, len);
		buf->len += (int) len;
	}
	else
		appendBinaryStringInfo(buf, (const char *) data, (int) len);
}

/* Append a length-prefixed byte string, so that fields cannot run together */
static inline void
append_field(StringInfo buf, const void *data, size_t len)
{
	uint64		len64 = len;

	append_bytes(buf, &len64, sizeof(len64));
	append_bytes(buf, data, len);
}

static inline void
append_string(StringInfo buf, const char *s)
{
	append_field(buf, s ? s : "", s ? strlen(s) : 0);
}

/* The current values of the settings hashed */
static inline void
current_settings(FingerprintSettings *settings, const char *strings[FP_NSTRINGS])
{
	/* zeroed: the padding is hashed too */
	memset(settings, 0, sizeof(*settings));
	settings->date_style = DateStyle;
	settings->date_order = DateOrder;
	settings->interval_style = IntervalStyle;
	settings->extra_float_digits = extra_float_digits;
	settings->bytea_output = bytea_output;
	settings->xmlbinary = xmlbinary;
	settings->xmloption = xmloption;
	settings->standard_conforming_strings = standard_conforming_strings;
	settings->transform_null_equals = Transform_null_equals;
	settings->array_nulls = Array_nulls;
	strings[0] = session_timezone ? pg_get_timezone_name(session_timezone) : NULL;
	strings[1] = locale_monetary;
	strings[2] = locale_numeric;
	strings[3] = locale_time;
	strings[4] = TSCurrentConfig;
}

/*
 * The value of timezone_abbreviations, which has no exported variable.
 * Looking it up by name (GetConfigOption) on every call costs a hit about
 * a thousand instructions: its GUC record is found once instead (a
 * backend's records do not move) and the value read through it.
 */
static const char *
timezone_abbreviations_value(void)
{
	static char **variable = NULL;

	if (variable == NULL)
	{
		struct config_generic *record = NULL;

#if PG_VERSION_NUM >= 160000
		record = find_option("timezone_abbreviations", false, true, ERROR);
#else
		struct config_generic **vars = get_guc_variables();
		int			n = GetNumConfigOptions();

		for (int i = 0; i < n; i++)
			if (strcmp(vars[i]->name, "timezone_abbreviations") == 0)
			{
				record = vars[i];
				break;
			}
#endif
		if (record == NULL || record->vartype != PGC_STRING)
			elog(ERROR, "cacheaside: the setting \"timezone_abbreviations\" was not found");
		variable = ((struct config_string *) record)->variable;
	}
	return *variable != NULL ? *variable : "";
}

/*
 * Make sure the session's parts are those of the current role, search path
 * and settings: compare what they were built from with the current values,
 * and build them again when anything differs.
 */
static void
session_parts_current(void)
{
	FingerprintSession *fs = &fp_session;
	Oid			role = GetUserId();
	Oid			path_buf[MAX_SEARCH_PATH];
	Oid		   *path = path_buf;
	int32		npath;
	Oid			temp_namespace;
	Oid			temp_toast;
	FingerprintSettings settings;
	const char *strings[FP_NSTRINGS];
	const char *tz_abbrevs;
	bool		bq_off;
	MemoryContext oldcxt;
	uint64		sysid;

	npath = fetch_search_path_array(path_buf, MAX_SEARCH_PATH);
	if (npath > MAX_SEARCH_PATH)
	{
		/* a long path: all of it counts */
		path = palloc(sizeof(Oid) * npath);
		npath = fetch_search_path_array(path, npath);
	}
	GetTempNamespaceState(&temp_namespace, &temp_toast);
	current_settings(&settings, strings);
	tz_abbrevs = timezone_abbreviations_value();
	bq_off = backslash_quote_off();

	if (fs->generation != 0 && fs->role == role && fs->npath == npath &&
		memcmp(fs->path, path, sizeof(Oid) * npath) == 0 &&
		fs->temp_namespace == temp_namespace &&
		(!OidIsValid(temp_namespace) ||
		 (fs->objects_changed == fp_objects_changed &&
		  strcmp(fs->search_path, namespace_search_path ? namespace_search_path : "") == 0)) &&
		memcmp(&fs->settings, &settings, sizeof(settings)) == 0 &&
		fs->quote_all == quote_all_identifiers &&
		fs->backslash_quote_off == bq_off &&
		fs->gin_fuzzy == GinFuzzySearchLimit &&
		strcmp(fs->tz_abbrevs, tz_abbrevs) == 0)
	{
		int			i;

		for (i = 0; i < FP_NSTRINGS; i++)
			if (strcmp(fs->strings[i], strings[i] ? strings[i] : "") != 0)
				break;
		if (i == FP_NSTRINGS)
		{
			if (path != path_buf)
				pfree(path);
			return;
		}
	}

	/* build them again */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (fs->head.data == NULL)
	{
		initStringInfo(&fs->head);
		initStringInfo(&fs->tail);
	}
	resetStringInfo(&fs->head);
	resetStringInfo(&fs->tail);
	for (int i = 0; i < FP_NSTRINGS; i++)
	{
		if (fs->strings[i] != NULL)
			pfree(fs->strings[i]);
		fs->strings[i] = NULL;
	}
	if (fs->search_path != NULL)
		pfree(fs->search_path);
	fs->search_path = NULL;
	if (fs->tz_abbrevs != NULL)
		pfree(fs->tz_abbrevs);
	fs->tz_abbrevs = NULL;
	if (fs->path != NULL)
		pfree(fs->path);
	fs->path = NULL;
	fs->generation = 0;			/* until all is built */

	sysid = GetSystemIdentifier();
	append_string(&fs->head, FINGERPRINT_VERSION);
	append_bytes(&fs->head, &sysid, sizeof(sysid));
	append_bytes(&fs->head, &MyDatabaseId, sizeof(MyDatabaseId));
	append_bytes(&fs->head, &role, sizeof(role));

	append_bytes(&fs->tail, &npath, sizeof(npath));
	append_bytes(&fs->tail, path, sizeof(Oid) * npath);
	append_bytes(&fs->tail, &settings, sizeof(settings));
	for (int i = 0; i < FP_NSTRINGS; i++)
	{
		append_string(&fs->tail, strings[i]);
		fs->strings[i] = pstrdup(strings[i] ? strings[i] : "");
	}

	/*
	 * Settings that change how the SQL's literals are read or how values
	 * are rendered, hashed only when not at their defaults, so that the
	 * fingerprints of other sessions stay what they were: the time zone
	 * abbreviations ('EST' is UTC+10 under 'Australia'), quoting every
	 * identifier (quote_ident, format('%I')), whether \' is refused in an
	 * E'' literal (backslash_quote, with the client encoding), and the
	 * bound on the rows a GIN index scan returns (gin_fuzzy_search_limit:
	 * fewer rows).  Each is labelled and its value length-prefixed; what
	 * follows the tail is the call part, which begins with the SQL text,
	 * and a label is never a query that could have been stored: these bytes
	 * cannot be taken for those of another field.
	 */
	if (strcmp(tz_abbrevs, "Default") != 0)
	{
		append_string(&fs->tail, "timezone_abbreviations");
		append_string(&fs->tail, tz_abbrevs);
	}
	if (quote_all_identifiers)
		append_string(&fs->tail, "quote_all_identifiers");
	if (bq_off)
		append_string(&fs->tail, "backslash_quote_off");
	if (GinFuzzySearchLimit != 0)
	{
		int32		limit = GinFuzzySearchLimit;

		append_string(&fs->tail, "gin_fuzzy_search_limit");
		append_bytes(&fs->tail, &limit, sizeof(limit));
	}
	fs->tz_abbrevs = pstrdup(tz_abbrevs);
	fs->quote_all = quote_all_identifiers;
	fs->backslash_quote_off = bq_off;
	fs->gin_fuzzy = GinFuzzySearchLimit;
	if (OidIsValid(temp_namespace))
	{
		/*
		 * Only with a temporary schema, so that the fingerprints of other
		 * sessions stay what they were.  The strings above are
		 * length-prefixed: these bytes cannot be taken for theirs.
		 */
		int64		start = (int64) MyStartTime;
		int32		pid = MyProcPid;

		append_string(&fs->tail, "temporary schema");
		append_bytes(&fs->tail, &pid, sizeof(pid));
		append_bytes(&fs->tail, &start, sizeof(start));
		append_bytes(&fs->tail, &fp_objects_changed, sizeof(fp_objects_changed));
		append_string(&fs->tail, namespace_search_path);
		fs->search_path = pstrdup(namespace_search_path ? namespace_search_path : "");
	}
	fs->path = palloc(sizeof(Oid) * Max(npath, 1));
	memcpy(fs->path, path, sizeof(Oid) * npath);
	MemoryContextSwitchTo(oldcxt);
	if (path != path_buf)
		pfree(path);

	fs->role = role;
	fs->npath = npath;
	fs->temp_namespace = temp_namespace;
	fs->objects_changed = fp_objects_changed;
	fs->settings = settings;

	/* a new generation: fingerprints cached under another one never match */
	fs->generation = ++fp_last_generation;
}

/*
 * This session created, dropped or altered an object (the object access
 * hook): a temporary one could now hide, or no longer hide, another of the
 * same name.  Matters only to sessions with a temporary schema.
 */
void
fingerprint_objects_changed(void)
{
	fp_objects_changed++;
	fp_objects_changed_in_xact = true;
}

/*
 * A transaction or subtransaction rolled back: if this transaction changed
 * objects, the rollback may have brought back a temporary object that hid
 * another (a temporary table dropped or renamed, then rolled back), so the
 * count moves on again: entries stored in between are not served after.
 * top: the transaction ended (committed or not).
 */
void
fingerprint_rolled_back(bool top)
{
	if (fp_objects_changed_in_xact)
		fp_objects_changed++;
	if (top)
		fp_objects_changed_in_xact = false;
}

void
fingerprint_committed(void)
{
	fp_objects_changed_in_xact = false;
}

/*
 * SHA-256 of the session's head, the call part and the session's tail,
 * from the cache when the same call part was hashed recently with the same
 * session's parts.
 */
static void
fingerprint_hash(const char *input, int len, uint8 fingerprint[FINGERPRINT_LEN])
{
	FingerprintSession *fs = &fp_session;
	FingerprintCacheEntry *slot = NULL;
	pg_cryptohash_ctx *ctx;

	if (len <= FP_CACHE_INPUT_MAX)
	{
		pg_crc32c	hash;

		/* CRC-32C only picks the slot; the whole call part is compared */
		INIT_CRC32C(hash);
		COMP_CRC32C(hash, input, len);
		FIN_CRC32C(hash);

		slot = &fp_cache[hash % FP_CACHE_SIZE];
		if (slot->input != NULL && slot->hash == hash && slot->len == len &&
			slot->generation == fs->generation &&
			memcmp(slot->input, input, len) == 0)
		{
			memcpy(fingerprint, slot->fingerprint, FINGERPRINT_LEN);
			return;
		}
		if (slot->input != NULL)
			pfree(slot->input);
		slot->input = NULL;
		slot->hash = hash;
	}

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) fs->head.data, fs->head.len) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) input, len) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) fs->tail.data, fs->tail.len) < 0 ||
		pg_cryptohash_final(ctx, fingerprint, FINGERPRINT_LEN) < 0)
		elog(ERROR, "could not compute fingerprint: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);

	if (slot != NULL)
	{
		slot->input = MemoryContextAlloc(TopMemoryContext, len > 0 ? len : 1);
		memcpy(slot->input, input, len);
		slot->len = len;
		slot->generation = fs->generation;
		memcpy(slot->fingerprint, fingerprint, FINGERPRINT_LEN);
	}
}

/*
 * Is type one of the OID alias types (regclass, regtype...), an array of
 * them, or a domain over either?  Their text is a name, not the OID.
 */
static bool
type_names_objects(Oid type)
{
	Oid			base;
	Oid			elem;

	switch (type)
	{
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGTYPEOID:
		case REGROLEOID:
		case REGNAMESPACEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGPROCARRAYOID:
		case REGPROCEDUREARRAYOID:
		case REGOPERARRAYOID:
		case REGOPERATORARRAYOID:
		case REGCLASSARRAYOID:
		case REGCOLLATIONARRAYOID:
		case REGTYPEARRAYOID:
		case REGROLEARRAYOID:
		case REGNAMESPACEARRAYOID:
		case REGCONFIGARRAYOID:
		case REGDICTIONARYARRAYOID:
			return true;
		default:
			break;
	}
	/* no other built-in type is one (domains and arrays of them are not) */
	if (type < FirstNormalObjectId)
		return false;
	base = getBaseType(type);
	if (base != type)
		return type_names_objects(base);
	elem = get_element_type(base);
	if (OidIsValid(elem))
		return type_names_objects(elem);
	switch (get_typtype(base))
	{
		case TYPTYPE_COMPOSITE:
			{
				/* a column of such a type prints its name too */
				TupleDesc	tupdesc = lookup_rowtype_tupdesc(base, -1);
				bool		found = false;

				for (int i = 0; i < tupdesc->natts && !found; i++)
				{
					Form_pg_attribute att = TupleDescAttr(tupdesc, i);

					if (!att->attisdropped && type_names_objects(att->atttypid))
						found = true;
				}
				ReleaseTupleDesc(tupdesc);
				return found;
			}
		case TYPTYPE_RANGE:
			return type_names_objects(get_range_subtype(base));
		case TYPTYPE_MULTIRANGE:
			return type_names_objects(get_multirange_range(base));
		default:
			return false;
	}
}

/*
 * Can a value of type be sent in binary (record_send and array_send need
 * every column's and element's send function)?  A composite, or an array,
 * range or domain of one, with a column of a type that has none cannot.
 */
static bool
type_sendable(Oid type)
{
	HeapTuple	tup;
	Form_pg_type typ;
	bool		ok;
	Oid			next = InvalidOid;
	bool		composite;

	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	if (!HeapTupleIsValid(tup))
		return false;
	typ = (Form_pg_type) GETSTRUCT(tup);
	ok = OidIsValid(typ->typsend);
	composite = typ->typtype == TYPTYPE_COMPOSITE;
	if (typ->typtype == TYPTYPE_DOMAIN)
		next = typ->typbasetype;
	else if (OidIsValid(typ->typelem) && IsTrueArrayType(typ))
		next = typ->typelem;
	else if (typ->typtype == TYPTYPE_RANGE)
		next = get_range_subtype(type);
	else if (typ->typtype == TYPTYPE_MULTIRANGE)
		next = get_multirange_range(type);
	ReleaseSysCache(tup);

	if (OidIsValid(next))
		return type_sendable(next);
	if (composite)
	{
		TupleDesc	tupdesc = lookup_rowtype_tupdesc(type, -1);

		for (int i = 0; i < tupdesc->natts && ok; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (!att->attisdropped && !type_sendable(att->atttypid))
				ok = false;
		}
		ReleaseTupleDesc(tupdesc);
	}
	return ok;
}

/* Append the call part: the SQL text and each parameter */
static void
append_call(StringInfo buf, const char *sql, size_t sqllen,
			const QueryParams *params)
{
	int32		n = params ? params->nparams : 0;

	append_field(buf, sql, sqllen);
	append_bytes(buf, &n, sizeof(n));
	for (int i = 0; i < n; i++)
	{
		append_bytes(buf, &params->types[i], sizeof(Oid));
		append_bytes(buf, &params->nulls[i], sizeof(bool));
		if (!params->nulls[i] && params->types[i] == UNKNOWNOID)
		{
			/* untyped: the text given */
			char	   *value = TextDatumGetCString(params->values[i]);

			append_string(buf, value);
			pfree(value);
		}
		else if (!params->nulls[i] &&
				 (params->types[i] == TEXTOID || params->types[i] == VARCHAROID))
		{
			/* what textout and varcharout return: the bytes themselves */
			text	   *value = DatumGetTextPP(params->values[i]);

			append_field(buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
			if ((Pointer) value != DatumGetPointer(params->values[i]))
				pfree(value);
		}
		else if (!params->nulls[i])
		{
			Oid			outfunc;
			bool		isvarlena;
			char	   *volatile text = NULL;
			int			save_digits = extra_float_digits;
			int			save_style = DateStyle;

			/*
			 * The text form must tell values apart: with extra_float_digits
			 * 0 or less a float is rounded (0.1 + 0.2 and 0.3 both print
			 * 0.3), also inside arrays, composites and geometric types;
			 * from 1 on it is the shortest exact form.
			 */
			getTypeOutputInfo(params->types[i], &outfunc, &isvarlena);
			if (save_digits >= 1 && save_style == USE_ISO_DATES)
				text = OidOutputFunctionCall(outfunc, params->values[i]);
			else
			{
				/*
				 * DateStyle too: but for ISO, a timestamptz prints its zone's
				 * abbreviation, not its offset, and the two instants of an
				 * hour repeated under one abbreviation (Europe/Moscow, 26
				 * October 2014, MSK both times) print the same.  Sessions at
				 * the default (ISO) are unchanged.
				 */
				extra_float_digits = Max(save_digits, 1);
				DateStyle = USE_ISO_DATES;
				PG_TRY();
				{
					text = OidOutputFunctionCall(outfunc, params->values[i]);
				}
				PG_FINALLY();
				{
					extra_float_digits = save_digits;
					DateStyle = save_style;
				}
				PG_END_TRY();
			}
			append_string(buf, text);
			pfree(text);

			/*
			 * An object named by a reg* type is its OID: its name is not
			 * (a table dropped and created again has the same name and
			 * another OID); the binary form is the OID.
			 */
			if (type_names_objects(params->types[i]) &&
				type_sendable(params->types[i]))
			{
				Oid			sendfunc;
				bytea	   *bin;

				getTypeBinaryOutputInfo(params->types[i], &sendfunc,
										&isvarlena);
				bin = OidSendFunctionCall(sendfunc, params->values[i]);
				append_field(buf, VARDATA(bin), VARSIZE(bin) - VARHDRSZ);
				pfree(bin);
			}
		}
	}
}

/*
 * Compute the fingerprint of running sql with params in this session now.
 */
void
fingerprint_compute(const char *sql, size_t sqllen, const QueryParams *params,
					uint8 fingerprint[FINGERPRINT_LEN])
{
	StringInfoData own;
	StringInfo	buf;

	/*
	 * The call part goes into the reused buffer, unless it is in use: a
	 * parameter's output function could itself call cache_aside_query.
	 */
	if (!fp_call_buf_busy)
	{
		if (fp_call_buf.data == NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

			initStringInfo(&fp_call_buf);
			MemoryContextSwitchTo(oldcxt);
		}
		buf = &fp_call_buf;
		resetStringInfo(buf);
		fp_call_buf_busy = true;
	}
	else
	{
		initStringInfo(&own);
		buf = &own;
	}

	PG_TRY();
	{
		append_call(buf, sql, sqllen, params);
		session_parts_current();
		fingerprint_hash(buf->data, buf->len, fingerprint);
	}
	PG_FINALLY();
	{
		if (buf == &fp_call_buf)
		{
			fp_call_buf_busy = false;
			if (fp_call_buf.maxlen > FP_CALL_BUF_KEEP)
			{
				pfree(fp_call_buf.data);
				fp_call_buf.data = NULL;
			}
		}
		else
			pfree(own.data);
	}
	PG_END_TRY();
}
