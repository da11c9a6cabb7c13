/*-------------------------------------------------------------------------
 *
 * entry.c
 *	  The format of a cache entry, independent of where its bytes are kept.
 *
 * An entry is a header followed by the JSON text.  All integers are
 * big-endian.  Version 3:
 *
 *	offset	size
 *	0		4	magic "CAE" and the format version (3)
 *	4		4	header length H: a multiple of 8, at least 80
 *	8		4	CRC-32C of every byte from offset 12 to the end
 *	12		4	flags: 1 = tracked (the next two fields are meaningful)
 *	16		8	creation time (TimestampTz)
 *	24		32	fingerprint of the computation (fingerprint.c)
 *	56		4	number of relations N the query read
 *	60		4	length C of the privilege checks, in bytes
 *	64		8	epoch: the start of the cluster the entry was made in
 *	72		8	as of: the commit sequence number its query saw (track.c)
 *	80		4*N	relation OIDs
 *	80+4N	C	privilege checks the query passed (privs.c), each:
 *				4 kind, 4 role, 4 object, 4 privileges, 4 version,
 *				4 number of columns K, 4*K columns.  Relation: the
 *				privileges required (SELECT), the xmin of its pg_class
 *				row, the columns read, as attribute number -
 *				FirstLowInvalidHeapAttributeNumber.  Function:
 *				privileges 0, the xmin of its pg_proc row, K = 0.
 *				Schema: privileges 0, version 0, K = 0.
 *	...			zero padding up to H
 *	H		...	the JSON text (the rest of the value)
 *
 * Decoding checks everything it reads against the length it was given, so
 * any byte string, truncated, corrupt or hostile, is either a valid entry
 * or refused with a reason; a refused entry is a cache miss.
 *
 * The header length is a multiple of 8 so that, in a MAXALIGNed buffer,
 * the four bytes before the payload are aligned: once decoded, they are
 * overwritten with a varlena header and the payload is returned as a text
 * datum without being copied (entry_payload_text).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "port/pg_bswap.h"
#include "port/pg_crc32c.h"
#include "utils/acl.h"

#include "entry.h"

#define ENTRY_MAGIC			"CAE"
#define ENTRY_MAX_RELATIONS	100000

static inline uint32
read_u32(const char *p)
{
	uint32		v;

	memcpy(&v, p, sizeof(v));
	return pg_ntoh32(v);
}

static inline uint64
read_u64(const char *p)
{
	uint64		v;

	memcpy(&v, p, sizeof(v));
	return pg_ntoh64(v);
}

static inline void
append_u32(StringInfo buf, uint32 v)
{
	v = pg_hton32(v);
	appendBinaryStringInfo(buf, (char *) &v, sizeof(v));
}

static inline void
append_u64(StringInfo buf, uint64 v)
{
	v = pg_hton64(v);
	appendBinaryStringInfo(buf, (char *) &v, sizeof(v));
}

/*
 * Size of the header of an entry that depends on nrelations relations.
 */
size_t
entry_header_size(int nrelations, size_t checks_len)
{
	return TYPEALIGN(8, ENTRY_FIXED_SIZE + 4 * (size_t) nrelations +
					 checks_len);
}

/*
 * Append one privilege check to buf, in the encoding of the entry.
 */
void
entry_encode_check(StringInfo buf, uint32 kind, Oid role, Oid object,
				   uint32 privileges, uint32 version,
				   const uint32 *columns, uint32 ncolumns)
{
	append_u32(buf, kind);
	append_u32(buf, role);
	append_u32(buf, object);
	append_u32(buf, privileges);
	append_u32(buf, version);
	append_u32(buf, ncolumns);
	for (uint32 i = 0; i < ncolumns; i++)
		append_u32(buf, columns[i]);
}

/*
 * Decode the privilege check at p, which ends before end.  Returns where
 * the next one begins, or NULL when the bytes are not a valid check.
 */
const char *
entry_check_next(const char *p, const char *end, EntryCheck *check)
{
	size_t		left = end - p;

	if (left < 24)
		return NULL;
	check->kind = read_u32(p);
	check->role = read_u32(p + 4);
	check->object = read_u32(p + 8);
	check->privileges = read_u32(p + 12);
	check->version = read_u32(p + 16);
	check->ncolumns = read_u32(p + 20);
	check->columns = p + 24;
	if (check->kind < ENTRY_CHECK_RELATION || check->kind > ENTRY_CHECK_SCHEMA)
		return NULL;
	if (check->ncolumns > (left - 24) / 4)
		return NULL;
	if (check->kind == ENTRY_CHECK_RELATION)
	{
		/* cached queries only read */
		if (check->privileges != ACL_SELECT)
			return NULL;
		for (uint32 i = 0; i < check->ncolumns; i++)
		{
			uint32		col = read_u32(check->columns + 4 * (size_t) i);

			if (col > (uint32) (MaxHeapAttributeNumber -
								FirstLowInvalidHeapAttributeNumber))
				return NULL;
		}
	}
	else if (check->ncolumns != 0 || check->privileges != 0 ||
			 (check->kind == ENTRY_CHECK_SCHEMA && check->version != 0))
		return NULL;
	return p + 24 + 4 * (size_t) check->ncolumns;
}

/* Column i of a decoded relation check */
uint32
entry_check_column(const EntryCheck *check, uint32 i)
{
	Assert(i < check->ncolumns);
	return read_u32(check->columns + 4 * (size_t) i);
}

/*
 * Append the header of entry (whose payload is entry->payload) to buf,
 * which must be empty.  The payload itself is not copied: the value
 * stored is the header followed by the payload.
 */
void
entry_encode_header(StringInfo buf, const CacheEntry *entry)
{
	size_t		hlen = entry_header_size(entry->nrelations, entry->checks_len);
	pg_crc32c	crc;

	Assert(buf->len == 0);
	if (entry->nrelations > ENTRY_MAX_RELATIONS)
		elog(ERROR, "cache entry depends on too many relations");
	if (entry->checks_len > ENTRY_MAX_CHECK_BYTES)
		elog(ERROR, "cache entry carries too many privilege checks");

	appendBinaryStringInfo(buf, ENTRY_MAGIC, 3);
	appendStringInfoChar(buf, (char) ENTRY_VERSION);
	append_u32(buf, (uint32) hlen);
	append_u32(buf, 0);			/* CRC, filled in below */
	append_u32(buf, entry->flags);
	append_u64(buf, (uint64) entry->created);
	appendBinaryStringInfo(buf, (const char *) entry->fingerprint,
						   FINGERPRINT_LEN);
	append_u32(buf, (uint32) entry->nrelations);
	append_u32(buf, (uint32) entry->checks_len);
	append_u64(buf, entry->epoch);
	append_u64(buf, entry->as_of);
	for (int i = 0; i < entry->nrelations; i++)
		append_u32(buf, entry->relations[i]);
	appendBinaryStringInfo(buf, entry->checks, entry->checks_len);
	while ((size_t) buf->len < hlen)
		appendStringInfoChar(buf, '\0');

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf->data + 12, buf->len - 12);
	COMP_CRC32C(crc, entry->payload, entry->payload_len);
	FIN_CRC32C(crc);
	crc = pg_hton32(crc);
	memcpy(buf->data + 8, &crc, sizeof(crc));
}

/*
 * Decode the entry in data[0..len).  Returns NULL on success, with entry
 * filled in (payload pointing into data), or a short reason why the bytes
 * are not a valid entry.  data must be MAXALIGNed and writable for
 * entry_payload_text to work.
 */
const char *
entry_decode(char *data, size_t len, CacheEntry *entry)
{
	uint32		hlen;
	uint32		nrel;
	uint32		clen;
	const char *checks;
	pg_crc32c	crc;

	if (len < ENTRY_FIXED_SIZE)
		return "shorter than an entry header";
	if (memcmp(data, ENTRY_MAGIC, 3) != 0)
		return "not a cacheaside entry";
	if ((uint8) data[3] != ENTRY_VERSION)
		return "unknown entry format version";

	hlen = read_u32(data + 4);
	nrel = read_u32(data + 56);
	clen = read_u32(data + 60);
	if (nrel > ENTRY_MAX_RELATIONS || clen > ENTRY_MAX_CHECK_BYTES ||
		hlen != entry_header_size(nrel, clen) || hlen > len)
		return "truncated or malformed header";

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, data + 12, len - 12);
	FIN_CRC32C(crc);
	if (crc != read_u32(data + 8))
		return "checksum mismatch";

	entry->flags = read_u32(data + 12);
	if ((entry->flags & ~ENTRY_TRACKED) != 0)
		return "unknown entry flags";

	entry->epoch = read_u64(data + 64);
	entry->as_of = read_u64(data + 72);
	if (!(entry->flags & ENTRY_TRACKED) && (entry->epoch | entry->as_of) != 0)
		return "malformed header";
	entry->created = (TimestampTz) read_u64(data + 16);
	memcpy(entry->fingerprint, data + 24, FINGERPRINT_LEN);
	entry->payload = data + hlen;
	entry->payload_len = len - hlen;
	if (entry->payload_len < 2 || entry->payload[0] != '[' ||
		entry->payload[entry->payload_len - 1] != ']')
		return "payload is not a JSON array";

	checks = data + ENTRY_FIXED_SIZE + 4 * (size_t) nrel;
	for (const char *p = checks; p < checks + clen;)
	{
		EntryCheck	check;

		p = entry_check_next(p, checks + clen, &check);
		if (p == NULL)
			return "malformed privilege checks";
	}
	entry->checks_len = clen;

	/*
	 * Valid: only now allocate.  The checks are copied: the end of the
	 * header is overwritten by entry_payload_text.
	 */
	entry->checks = NULL;
	if (clen > 0)
	{
		char	   *copy = palloc(clen);

		memcpy(copy, checks, clen);
		entry->checks = copy;
	}
	entry->nrelations = (int) nrel;
	entry->relations = NULL;
	if (nrel > 0)
	{
		entry->relations = palloc(sizeof(Oid) * nrel);
		for (uint32 i = 0; i < nrel; i++)
			entry->relations[i] = read_u32(data + ENTRY_FIXED_SIZE + 4 * i);
	}
	return NULL;
}

/*
 * The payload of a decoded entry as a text datum, made in place: the
 * varlena header goes over the (already decoded) last bytes of the entry
 * header.  The entry's header fields must not be read from data after
 * this.
 */
text *
entry_payload_text(CacheEntry *entry)
{
	text	   *result = (text *) (entry->payload - VARHDRSZ);

	Assert(entry->payload_len + VARHDRSZ <= MaxAllocHugeSize);
	SET_VARSIZE(result, entry->payload_len + VARHDRSZ);
	return result;
}
