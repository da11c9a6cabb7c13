/*-------------------------------------------------------------------------
 *
 * fuzz_entry.c
 *	  libFuzzer target for entry_decode(), the code that reads what Redis
 *	  hands back.
 *
 * Any byte string must either decode into an entry whose every part lies
 * inside the input, or be refused with a reason; never read out of
 * bounds, never crash.  Built and run by fuzz/run (see fuzz/README.md);
 * entry.c is compiled as it is and linked with libpgcommon's frontend
 * palloc/pfree.  The encoder's elog(ERROR) needs the three functions of
 * the backend's error reporting below; the encoder is never called here,
 * so they only abort.
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

/* Error reporting of the encoder (not called by this target) */
bool
errstart_cold(int elevel, const char *domain)
{
	abort();
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

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

/*
 * Decode data[0..size) and check what a decoded entry promises.  With
 * fix_crc, the checksum field is first set to the right value, so that
 * mutations reach the checks made after the checksum's.
 */
static void
decode_one(const uint8 *data, size_t size, bool fix_crc)
{
	/* entry_decode wants a MAXALIGNed, writable copy, as Redis replies are */
	char	   *buf = aligned_alloc(MAXIMUM_ALIGNOF, MAXALIGN(size + 1));
	CacheEntry	entry;
	const char *invalid;

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	if (fix_crc)
	{
		pg_crc32c	crc;

		INIT_CRC32C(crc);
		COMP_CRC32C(crc, buf + ENTRY_OFF_FLAGS, size - ENTRY_OFF_FLAGS);
		FIN_CRC32C(crc);
		crc = pg_hton32(crc);
		memcpy(buf + ENTRY_OFF_CRC, &crc, sizeof(crc));
	}

	invalid = entry_decode(buf, size, &entry);
	if (invalid == NULL)
	{
		text	   *json;
		volatile char sum = 0;

		/* everything decoded lies inside the input */
		if (entry.payload < buf || entry.payload + entry.payload_len != buf + size)
			abort();
		if ((size_t) (entry.payload - buf) <
			ENTRY_FIXED_SIZE + 4 * (size_t) entry.nrelations + entry.checks_len)
			abort();
		/* the privilege checks decode one after the other to their end */
		for (const char *p = entry.checks;
			 entry.checks_len > 0 && p < entry.checks + entry.checks_len;)
		{
			EntryCheck	check;

			p = entry_check_next(p, entry.checks + entry.checks_len, &check);
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
		if (entry.payload_len < 2 || entry.payload[0] != '[' ||
			entry.payload[entry.payload_len - 1] != ']')
			abort();
		for (int i = 0; i < entry.nrelations; i++)
			sum ^= (char) entry.relations[i];

		/* the payload as a text datum, made in place */
		json = entry_payload_text(&entry);
		if (VARSIZE(json) != entry.payload_len + VARHDRSZ ||
			VARDATA(json) != entry.payload)
			abort();
		(void) sum;
		if (entry.relations)
			pfree(entry.relations);
		if (entry.checks)
			pfree((char *) entry.checks);
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	decode_one(data, size, false);
	if (size >= ENTRY_OFF_FLAGS)
		decode_one(data, size, true);
	return 0;
}
