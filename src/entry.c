/*-------------------------------------------------------------------------
 *
 * entry.c
 *	  The format of a cache entry, independent of where its bytes are kept.
 *
 * The layout is described in entry.h, with a name for each offset.
 *
 * Decoding checks everything it reads against the length it was given, so
 * any byte string, truncated, corrupt or hostile, is either a valid entry
 * or refused with a reason; a refused entry is a cache miss.
 *
 * Compression.  A payload of at least the caller's threshold is compressed
 * with the caller's codec (codec.c) and kept compressed only when that
 * saves at least an eighth of it, and the 8 bytes of compression fields
 * it adds to the header: below that the work of decompressing on every
 * hit buys too little memory.  The output buffer is given exactly
 * that capacity, so an incompressible payload costs one attempt that
 * stops as soon as it overflows, and no more memory than the payload.
 * A compressed entry is decoded into a new buffer of the length its
 * header declares, which must be within the caller's bound (the largest
 * entry it would read uncompressed) before anything is allocated; the
 * codec must produce exactly that many bytes.  Anything else is refused
 * like a checksum failure.
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
write_u32(char *p, uint32 v)
{
	v = pg_hton32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
write_u64(char *p, uint64 v)
{
	v = pg_hton64(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
append_u32(StringInfo buf, uint32 v)
{
	v = pg_hton32(v);
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
	char		fixed[ENTRY_CHECK_FIXED_SIZE];

	write_u32(fixed + ENTRY_CHECK_OFF_KIND, kind);
	write_u32(fixed + ENTRY_CHECK_OFF_ROLE, role);
	write_u32(fixed + ENTRY_CHECK_OFF_OBJECT, object);
	write_u32(fixed + ENTRY_CHECK_OFF_PRIVILEGES, privileges);
	write_u32(fixed + ENTRY_CHECK_OFF_VERSION, version);
	write_u32(fixed + ENTRY_CHECK_OFF_NCOLUMNS, ncolumns);
	appendBinaryStringInfo(buf, fixed, sizeof(fixed));
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

	if (left < ENTRY_CHECK_FIXED_SIZE)
		return NULL;
	check->kind = read_u32(p + ENTRY_CHECK_OFF_KIND);
	check->role = read_u32(p + ENTRY_CHECK_OFF_ROLE);
	check->object = read_u32(p + ENTRY_CHECK_OFF_OBJECT);
	check->privileges = read_u32(p + ENTRY_CHECK_OFF_PRIVILEGES);
	check->version = read_u32(p + ENTRY_CHECK_OFF_VERSION);
	check->ncolumns = read_u32(p + ENTRY_CHECK_OFF_NCOLUMNS);
	check->columns = p + ENTRY_CHECK_FIXED_SIZE;
	if (check->kind < ENTRY_CHECK_RELATION || check->kind > ENTRY_CHECK_SCHEMA)
		return NULL;
	if (check->ncolumns > (left - ENTRY_CHECK_FIXED_SIZE) / 4)
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
	return p + ENTRY_CHECK_FIXED_SIZE + 4 * (size_t) check->ncolumns;
}

/* Column i of a decoded relation check */
uint32
entry_check_column(const EntryCheck *check, uint32 i)
{
	Assert(i < check->ncolumns);
	return read_u32(check->columns + 4 * (size_t) i);
}

/*
 * Size of entry uncompressed: its header without the compression fields,
 * and its JSON text.  cacheaside.max_value_bytes bounds this.
 */
size_t
entry_raw_size(const CacheEntry *entry)
{
	return entry_header_size(entry->nrelations, entry->checks_len) +
		entry->payload_len;
}

/*
 * Decide how entry's payload is stored: compressed with codec when it is
 * at least min_bytes long and that saves at least an eighth of it, plus
 * the compression fields (so a compressed entry is always smaller than the
 * same entry uncompressed), else as it is.  A compressed form is palloc'd
 * in the current memory context.
 */
void
entry_compress(const CacheEntry *entry, CodecId codec, size_t min_bytes,
			   EntryStored *stored)
{
	size_t		saving = entry->payload_len / 8 + ENTRY_COMP_SIZE;

	stored->codec = CODEC_NONE;
	stored->data = entry->payload;
	stored->len = entry->payload_len;

	if (codec == CODEC_NONE || entry->payload_len < min_bytes ||
		entry->payload_len <= saving || entry->payload_len > PG_UINT32_MAX)
		return;
	stored->data = codec_compress(codec, entry->payload, entry->payload_len,
								  entry->payload_len - saving, &stored->len);
	if (stored->data != NULL)
	{
		stored->codec = codec;
		return;
	}
	stored->data = entry->payload;
	stored->len = entry->payload_len;
}

/*
 * Append the header of entry to buf, which must be empty, for its payload
 * stored as *stored (entry_compress).  The payload itself is not copied:
 * the value stored is the header followed by stored->data.
 */
void
entry_encode_header(StringInfo buf, const CacheEntry *entry,
					const EntryStored *stored)
{
	size_t		hlen = entry_header_size(entry->nrelations, entry->checks_len);
	char		fixed[ENTRY_FIXED_SIZE];
	uint32		flags = entry->flags & ~ENTRY_COMPRESSED;
	pg_crc32c	crc;

	Assert(buf->len == 0);
	if (entry->nrelations > ENTRY_MAX_RELATIONS)
		elog(ERROR, "cache entry depends on too many relations");
	if (entry->checks_len > ENTRY_MAX_CHECK_BYTES)
		elog(ERROR, "cache entry carries too many privilege checks");

	memcpy(fixed + ENTRY_OFF_MAGIC, ENTRY_MAGIC, 3);
	fixed[ENTRY_OFF_VERSION] = (char) ENTRY_VERSION;
	write_u32(fixed + ENTRY_OFF_HEADER_LEN, (uint32) hlen +
			  (stored->codec != CODEC_NONE ? ENTRY_COMP_SIZE : 0));
	write_u32(fixed + ENTRY_OFF_CRC, 0);	/* filled in below */
	if (stored->codec != CODEC_NONE)
		flags |= ENTRY_COMPRESSED;
	write_u32(fixed + ENTRY_OFF_FLAGS, flags);
	write_u64(fixed + ENTRY_OFF_CREATED, (uint64) entry->created);
	memcpy(fixed + ENTRY_OFF_FINGERPRINT, entry->fingerprint,
		   FINGERPRINT_LEN);
	write_u32(fixed + ENTRY_OFF_NRELATIONS, (uint32) entry->nrelations);
	write_u32(fixed + ENTRY_OFF_CHECKS_LEN, (uint32) entry->checks_len);
	write_u64(fixed + ENTRY_OFF_EPOCH, entry->epoch);
	write_u64(fixed + ENTRY_OFF_AS_OF, entry->as_of);
	write_u32(fixed + ENTRY_OFF_COMPUTE_US, entry->compute_us);
	write_u32(fixed + ENTRY_OFF_TTL, entry->ttl);
	appendBinaryStringInfo(buf, fixed, sizeof(fixed));
	for (int i = 0; i < entry->nrelations; i++)
		append_u32(buf, entry->relations[i]);
	appendBinaryStringInfo(buf, entry->checks, entry->checks_len);
	while ((size_t) buf->len < hlen)
		appendStringInfoChar(buf, '\0');
	if (stored->codec != CODEC_NONE)
	{
		char		comp[ENTRY_COMP_SIZE];

		Assert(entry->payload_len <= PG_UINT32_MAX);
		write_u32(comp + ENTRY_COMP_OFF_CODEC, (uint32) stored->codec);
		write_u32(comp + ENTRY_COMP_OFF_RAW_LEN, (uint32) entry->payload_len);
		appendBinaryStringInfo(buf, comp, sizeof(comp));
	}

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf->data + ENTRY_OFF_FLAGS,
				buf->len - ENTRY_OFF_FLAGS);
	COMP_CRC32C(crc, stored->data, stored->len);
	FIN_CRC32C(crc);
	write_u32(buf->data + ENTRY_OFF_CRC, crc);
}

/*
 * Do the first bytes of a value, at least ENTRY_OFF_HEADER_LEN of them
 * when there are, say it is a cacheaside entry (of any format version)?
 */
bool
entry_has_magic(const char *data, size_t len)
{
	return len >= ENTRY_OFF_HEADER_LEN &&
		memcmp(data + ENTRY_OFF_MAGIC, ENTRY_MAGIC, 3) == 0;
}

/*
 * Decode the entry in data[0..len).  Returns NULL on success, with entry
 * filled in, or a short reason why the bytes are not a valid entry.
 * max_size bounds the size of the entry uncompressed (entry_raw_size): a
 * larger entry is refused before anything is allocated for it.
 *
 * The payload of an entry stored uncompressed is left in data (data must
 * be MAXALIGNed and writable for entry_payload_text to work); that of a
 * compressed entry is decompressed into a buffer palloc'd in the current
 * memory context, with room for a varlena header before it.
 */
static const char *
entry_decode_internal(char *data, size_t len, size_t max_size,
					  CacheEntry *entry, bool verify_checksum)
{
	uint32		hlen;
	uint32		nrel;
	uint32		clen;
	uint32		flags;
	size_t		plen;			/* P: the header without compression fields */
	const char *checks;
	pg_crc32c	crc;
	CodecId		codec = CODEC_NONE;
	size_t		raw_len;
	char	   *raw = NULL;

	if (len < ENTRY_FIXED_SIZE)
		return "shorter than an entry header";
	if (memcmp(data + ENTRY_OFF_MAGIC, ENTRY_MAGIC, 3) != 0)
		return "not a cacheaside entry";
	if ((uint8) data[ENTRY_OFF_VERSION] != ENTRY_VERSION)
		return "unknown entry format version";

	hlen = read_u32(data + ENTRY_OFF_HEADER_LEN);
	nrel = read_u32(data + ENTRY_OFF_NRELATIONS);
	clen = read_u32(data + ENTRY_OFF_CHECKS_LEN);
	flags = read_u32(data + ENTRY_OFF_FLAGS);
	if (nrel > ENTRY_MAX_RELATIONS || clen > ENTRY_MAX_CHECK_BYTES)
		return "truncated or malformed header";
	plen = entry_header_size(nrel, clen);
	if (hlen != plen + ((flags & ENTRY_COMPRESSED) ? ENTRY_COMP_SIZE : 0) ||
		hlen > len)
		return "truncated or malformed header";

	if (verify_checksum)
	{
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, data + ENTRY_OFF_FLAGS, len - ENTRY_OFF_FLAGS);
		FIN_CRC32C(crc);
		if (crc != read_u32(data + ENTRY_OFF_CRC))
			return "checksum mismatch";
	}

	if ((flags & ~ENTRY_KNOWN_FLAGS) != 0)
		return "unknown entry flags";
	entry->flags = flags;

	entry->epoch = read_u64(data + ENTRY_OFF_EPOCH);
	entry->as_of = read_u64(data + ENTRY_OFF_AS_OF);
	if (!(flags & ENTRY_TRACKED) && (entry->epoch | entry->as_of) != 0)
		return "malformed header";
	entry->compute_us = read_u32(data + ENTRY_OFF_COMPUTE_US);
	entry->ttl = read_u32(data + ENTRY_OFF_TTL);
	entry->created = (TimestampTz) read_u64(data + ENTRY_OFF_CREATED);
	memcpy(entry->fingerprint, data + ENTRY_OFF_FINGERPRINT, FINGERPRINT_LEN);

	if (flags & ENTRY_COMPRESSED)
	{
		uint32		c = read_u32(data + plen + ENTRY_COMP_OFF_CODEC);

		if (c == CODEC_NONE || c > CODEC_MAX_ID)
			return "unknown compression codec";
		codec = (CodecId) c;
		raw_len = read_u32(data + plen + ENTRY_COMP_OFF_RAW_LEN);
		if (raw_len < 2 || len == hlen)
			return "payload is not a JSON array";
	}
	else
		raw_len = len - hlen;
	if (raw_len > max_size || plen > max_size - raw_len)
		return "larger than the size bound";

	checks = data + ENTRY_FIXED_SIZE + 4 * (size_t) nrel;
	for (const char *p = checks; p < checks + clen;)
	{
		EntryCheck	check;

		p = entry_check_next(p, checks + clen, &check);
		if (p == NULL)
			return "malformed privilege checks";
	}

	/*
	 * Valid so far: only now allocate, first for the decompressed payload,
	 * whose length is bounded above.
	 */
	if (codec != CODEC_NONE)
	{
		raw = palloc(VARHDRSZ + raw_len);
		if (!codec_decompress(codec, data + hlen, len - hlen,
							  raw + VARHDRSZ, raw_len))
		{
			pfree(raw);
			return "compressed payload is corrupt";
		}
		entry->payload = raw + VARHDRSZ;
	}
	else
		entry->payload = data + hlen;
	entry->payload_len = raw_len;
	if (entry->payload_len < 2 || entry->payload[0] != '[' ||
		entry->payload[entry->payload_len - 1] != ']')
	{
		if (raw != NULL)
			pfree(raw);
		return "payload is not a JSON array";
	}

	/*
	 * The checks are copied: the end of the header is overwritten by
	 * entry_payload_text.
	 */
	entry->checks_len = clen;
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

const char *
entry_decode(char *data, size_t len, size_t max_size, CacheEntry *entry)
{
	return entry_decode_internal(data, len, max_size, entry, true);
}

/*
 * entry_decode() of a copy of bytes that entry_decode() accepted (a
 * near-cache copy, kept only after its Redis bytes decoded): the same
 * checks, every bound included, but the checksum, which guards against
 * what can happen to bytes on their way through Redis and the network.
 */
const char *
entry_decode_copy(char *data, size_t len, size_t max_size, CacheEntry *entry)
{
	return entry_decode_internal(data, len, max_size, entry, false);
}

/*
 * The payload of a decoded entry as a text datum, made in place: the
 * varlena header goes over the (already decoded) last bytes of the entry
 * header, or into the room left for it before a decompressed payload.
 * The entry's header fields must not be read from data after this.
 */
text *
entry_payload_text(CacheEntry *entry)
{
	text	   *result = (text *) (entry->payload - VARHDRSZ);

	Assert(entry->payload_len + VARHDRSZ <= MaxAllocHugeSize);
	SET_VARSIZE(result, entry->payload_len + VARHDRSZ);
	return result;
}
