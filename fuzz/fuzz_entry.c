/*-------------------------------------------------------------------------
 *
 * fuzz_entry.c
 *	  libFuzzer target for entry_decode(), the code that reads what Redis
 *	  hands back.
 *
 * Any byte string must either decode into an entry whose every part lies
 * inside the input (or, compressed, that decompresses to the length its
 * header declares, within the bound), or be refused with a reason; never
 * read out of bounds, never crash, never leak.  Built and run by fuzz/run
 * (see fuzz/README.md); entry.c and codec.c are compiled as they are and
 * linked with libpgcommon's frontend palloc/pfree and StringInfo, liblz4
 * and libzstd.  The backend's error reporting is replaced by the functions
 * below: an ERROR (the encoder's "too many relations") cannot happen
 * here, so they abort; a DEBUG1 line of the codecs is dropped.
 *
 * Each input is also the payload of entries this target encodes itself,
 * with each codec, which must decode back to it; and every compressed
 * entry that decodes is decoded again forged (another codec, a length
 * that lies, its compressed stream cut short).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "port/pg_bswap.h"
#include "port/pg_crc32c.h"
#include "utils/acl.h"

#include "entry.h"

/* Most bytes an entry may take uncompressed (cacheaside.max_value_bytes) */
#define FUZZ_MAX_SIZE	(1024 * 1024)

/*
 * Inputs also encoded (round_trip): one in ROUND_TRIP_EVERY, up to
 * ROUND_TRIP_MAX bytes.  Encoding with zstd costs about fifty decodings
 * (its work context is allocated and freed each time, under
 * AddressSanitizer): encoding every input would leave the decoder, the
 * code that meets hostile bytes, a fiftieth of the runs.
 */
#define ROUND_TRIP_EVERY	16
#define ROUND_TRIP_MAX		(64 * 1024)

/* Error reporting: an ERROR is not expected, DEBUG1 is dropped */
bool
errstart_cold(int elevel, const char *domain)
{
	abort();
}

bool
errstart(int elevel, const char *domain)
{
	if (elevel >= ERROR)
		abort();
	return false;
}

int
errmsg_internal(const char *fmt,...)
{
	abort();
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	abort();
}


static inline uint32
get_u32(const char *p)
{
	uint32		v;

	memcpy(&v, p, sizeof(v));
	return pg_ntoh32(v);
}

static inline void
put_u32(char *p, uint32 v)
{
	v = pg_hton32(v);
	memcpy(p, &v, sizeof(v));
}

/* Set the checksum field of the entry in buf[0..size) to the right value */
static void
fix_checksum(char *buf, size_t size)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf + ENTRY_OFF_FLAGS, size - ENTRY_OFF_FLAGS);
	FIN_CRC32C(crc);
	put_u32(buf + ENTRY_OFF_CRC, crc);
}

/* Free what a successful entry_decode allocated */
static void
entry_release(CacheEntry *entry)
{
	if (entry->flags & ENTRY_COMPRESSED)
		pfree(entry->payload - VARHDRSZ);
	if (entry->relations)
		pfree(entry->relations);
	if (entry->checks)
		pfree((char *) entry->checks);
}

/*
 * Check what a decoded entry promises; buf[0..size) is what it was
 * decoded from.
 */
static void
check_decoded(const char *buf, size_t size, CacheEntry *entry)
{
	text	   *json;
	volatile char sum = 0;
	size_t		hlen = get_u32(buf + ENTRY_OFF_HEADER_LEN);

	if (entry->flags & ENTRY_COMPRESSED)
	{
		/* decompressed into its own buffer, within the bound */
		if (hlen - ENTRY_COMP_SIZE + entry->payload_len > FUZZ_MAX_SIZE ||
			entry->payload_len != get_u32(buf + hlen - ENTRY_COMP_SIZE +
										  ENTRY_COMP_OFF_RAW_LEN))
			abort();
		if (entry->payload + entry->payload_len > buf &&
			entry->payload < buf + size)
			abort();
		for (size_t i = 0; i < entry->payload_len; i++)
			sum ^= entry->payload[i];
	}
	else
	{
		/* everything decoded lies inside the input */
		if (entry->payload < buf || entry->payload + entry->payload_len != buf + size)
			abort();
		if (size > FUZZ_MAX_SIZE)
			abort();
	}
	if (hlen < ENTRY_FIXED_SIZE + 4 * (size_t) entry->nrelations + entry->checks_len)
		abort();
	/* the privilege checks decode one after the other to their end */
	for (const char *p = entry->checks;
		 entry->checks_len > 0 && p < entry->checks + entry->checks_len;)
	{
		EntryCheck	check;

		p = entry_check_next(p, entry->checks + entry->checks_len, &check);
		if (p == NULL)
			abort();
		/* what privs.c relies on: a read, columns within bounds */
		if (check.kind == ENTRY_CHECK_RELATION &&
			check.privileges != ACL_SELECT)
			abort();
		for (uint32 c = 0; c < check.ncolumns; c++)
			if (entry_check_column(&check, c) >
				(uint32) (MaxHeapAttributeNumber - FirstLowInvalidHeapAttributeNumber))
				abort();
	}
	if (entry->payload_len < 2 || entry->payload[0] != '[' ||
		entry->payload[entry->payload_len - 1] != ']')
		abort();
	for (int i = 0; i < entry->nrelations; i++)
		sum ^= (char) entry->relations[i];

	/* the payload as a text datum, made in place */
	json = entry_payload_text(entry);
	if (VARSIZE(json) != entry->payload_len + VARHDRSZ ||
		VARDATA(json) != entry->payload)
		abort();
	(void) sum;
}

/*
 * Decode buf[0..size), which must be MAXALIGNed and writable, and check
 * the result.  Returns whether it decoded.
 */
static bool
decode_checked(char *buf, size_t size)
{
	CacheEntry	entry;

	if (entry_decode(buf, size, FUZZ_MAX_SIZE, &entry) != NULL)
		return false;
	check_decoded(buf, size, &entry);
	entry_release(&entry);
	return true;
}

/* A MAXALIGNed, writable copy of data[0..size), as Redis replies are */
static char *
aligned_copy(const void *data, size_t size)
{
	char	   *buf = aligned_alloc(MAXIMUM_ALIGNOF, MAXALIGN(size + 1));

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	return buf;
}

/*
 * buf[0..size) is an entry that decoded, compressed: decode forgeries of
 * it, each with its checksum made right, as someone with access to Redis
 * could write them.  Those that must be refused are.
 */
static void
decode_forgeries(const char *buf, size_t size)
{
	size_t		hlen = get_u32(buf + ENTRY_OFF_HEADER_LEN);
	size_t		comp = hlen - ENTRY_COMP_SIZE;
	uint32		raw_len = get_u32(buf + comp + ENTRY_COMP_OFF_RAW_LEN);
	uint32		codec = get_u32(buf + comp + ENTRY_COMP_OFF_CODEC);
	static const struct
	{
		int			field;		/* offset from comp, or -1: truncate */
		uint32		delta;		/* added to the field, or bytes cut */
		bool		refused;	/* must be refused */
	}			forgeries[] =
	{
		/* the other codec, or none, or one that does not exist */
		{ENTRY_COMP_OFF_CODEC, 1, false},
		{ENTRY_COMP_OFF_CODEC, (uint32) -1, false},
		{ENTRY_COMP_OFF_CODEC, 0x10000, true},
		/* lengths that lie, beyond the bound too */
		{ENTRY_COMP_OFF_RAW_LEN, 1, true},
		{ENTRY_COMP_OFF_RAW_LEN, (uint32) -1, true},
		{ENTRY_COMP_OFF_RAW_LEN, FUZZ_MAX_SIZE, true},
		{ENTRY_COMP_OFF_RAW_LEN, 0x80000000, true},
		/* the compressed stream cut short */
		{-1, 1, false},
		{-1, 16, false},
	};

	for (int i = 0; i < lengthof(forgeries); i++)
	{
		size_t		len = size;
		char	   *copy;

		if (forgeries[i].field < 0)
		{
			if (forgeries[i].delta > size - hlen)
				continue;
			len -= forgeries[i].delta;
		}
		copy = aligned_copy(buf, len);
		if (forgeries[i].field >= 0)
			put_u32(copy + comp + forgeries[i].field,
					(forgeries[i].field == ENTRY_COMP_OFF_CODEC ?
					 codec : raw_len) + forgeries[i].delta);
		fix_checksum(copy, len);
		if (decode_checked(copy, len) && forgeries[i].refused)
			abort();
		free(copy);
	}
}

/*
 * Decode data[0..size) and check what a decoded entry promises.  With
 * fix_crc, the checksum field is first set to the right value, so that
 * mutations reach the checks made after the checksum's.
 */
static void
decode_one(const uint8 *data, size_t size, bool fix_crc)
{
	char	   *buf = aligned_copy(data, size);

	if (fix_crc)
		fix_checksum(buf, size);
	if (decode_checked(buf, size) &&
		(get_u32(buf + ENTRY_OFF_FLAGS) & ENTRY_COMPRESSED))
		decode_forgeries(buf, size);
	free(buf);
}

/*
 * Encode entries whose payload is "[" data "]", with each codec, decode
 * them and compare: compressed or not (entry_compress decides), they must
 * come back the same.
 */
static void
round_trip(const uint8 *data, size_t size)
{
	static const Oid relations[] = {16384, 16390};
	static const CodecId codecs[] = {CODEC_NONE, CODEC_LZ4, CODEC_ZSTD};
	char	   *payload = malloc(size + 2);

	if (payload == NULL)
		abort();
	payload[0] = '[';
	memcpy(payload + 1, data, size);
	payload[size + 1] = ']';

	for (int c = 0; c < lengthof(codecs); c++)
	{
		CacheEntry	entry = {0};
		CacheEntry	decoded;
		EntryStored stored;
		StringInfoData buf;
		char	   *value;
		size_t		len;

		entry.flags = ENTRY_TRACKED;
		entry.epoch = 1;
		entry.as_of = 2;
		entry.nrelations = lengthof(relations);
		entry.relations = (Oid *) relations;
		entry.payload = payload;
		entry.payload_len = size + 2;

		entry_compress(&entry, codecs[c], 0, &stored);
		if (stored.codec != codecs[c] && stored.codec != CODEC_NONE)
			abort();
		/* kept compressed only when that saves an eighth, and more */
		if (stored.codec != CODEC_NONE &&
			stored.len + ENTRY_COMP_SIZE >
			entry.payload_len - entry.payload_len / 8)
			abort();
		initStringInfo(&buf);
		entry_encode_header(&buf, &entry, &stored);
		len = buf.len + stored.len;
		value = aligned_alloc(MAXIMUM_ALIGNOF, MAXALIGN(len + 1));
		if (value == NULL)
			abort();
		memcpy(value, buf.data, buf.len);
		memcpy(value + buf.len, stored.data, stored.len);
		if (entry_decode(value, len, FUZZ_MAX_SIZE, &decoded) != NULL ||
			((decoded.flags & ENTRY_COMPRESSED) != 0) !=
			(stored.codec != CODEC_NONE) ||
			decoded.payload_len != entry.payload_len ||
			memcmp(decoded.payload, payload, entry.payload_len) != 0 ||
			decoded.nrelations != entry.nrelations)
			abort();
		check_decoded(value, len, &decoded);
		entry_release(&decoded);
		if (stored.codec != CODEC_NONE)
		{
			decode_forgeries(value, len);
			pfree((char *) stored.data);
		}
		pfree(buf.data);
		free(value);
	}
	free(payload);
}

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	decode_one(data, size, false);
	if (size >= ENTRY_OFF_FLAGS)
		decode_one(data, size, true);
	if (size <= ROUND_TRIP_MAX &&
		(size + (size > 0 ? data[size - 1] : 0)) % ROUND_TRIP_EVERY == 0)
		round_trip(data, size);
	return 0;
}
