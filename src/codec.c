/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  Compression of entry payloads: LZ4 and zstd behind one interface.
 *
 * Two codecs from Debian's own packages, both fast enough for a cache:
 *
 *	lz4		LZ4_compress_default into an LZ4 block, LZ4_decompress_safe out
 *			of it.  The block does not carry its decompressed length; the
 *			entry header does (entry.h).
 *	zstd	ZSTD_compress at level CODEC_ZSTD_LEVEL into one frame, which
 *			declares its content size; ZSTD_decompress out of it.  Input
 *			that is anything else (a legacy format, skippable frames,
 *			several frames, bytes after the frame, another size) is
 *			refused before the decoder runs.
 *
 * Why these two, and level 1: bench/README.md, "Compression".
 *
 * Memory.  Output buffers are palloc'd in the caller's memory context, with
 * the size the caller decided before anything is allocated: compression
 * writes into at most the capacity the caller gives (the output is only
 * worth keeping if it fits), and decompression writes into a buffer of the
 * exact length the entry header declares, which the decoder has bounded
 * beforehand.  LZ4 works on the stack.  zstd allocates its work context
 * with malloc inside ZSTD_compress and ZSTD_decompress and frees it before
 * returning; no PostgreSQL error can be raised in between, so nothing
 * malloc'd outlives a call, even when the call is cancelled.
 *
 * Failures.  Neither function raises an error.  Compression that does not
 * fit the capacity, or that fails for any other reason (a DEBUG1 line says
 * which), returns NULL: the caller stores the payload uncompressed.
 * Decompression of bytes that are not a valid stream, or that decode to
 * another length than expected, returns false: the entry is unreadable, a
 * miss, like one whose checksum fails.  The decoders bound every read and
 * write by the lengths they are given, whatever the input (fuzz/ checks
 * it through entry_decode).
 *
 * This file is compiled into the fuzzing target as well, outside the
 * backend: it uses only palloc, pfree and elog.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include <lz4.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "codec.h"

/*
 * The name of a codec, as the setting cacheaside.compression spells it.
 */
const char *
codec_name(CodecId codec)
{
	switch (codec)
	{
		case CODEC_NONE:
			return "off";
		case CODEC_LZ4:
			return "lz4";
		case CODEC_ZSTD:
			return "zstd";
	}
	return "unknown";
}

/*
 * Compress src[0..srclen) with codec into a palloc'd buffer of at most
 * capacity bytes.  Returns the buffer, with its length in *dstlen, or NULL
 * when the output would not fit in capacity, or the codec failed.
 */
char *
codec_compress(CodecId codec, const char *src, size_t srclen,
			   size_t capacity, size_t *dstlen)
{
	char	   *dst;

	*dstlen = 0;
	if (capacity == 0)
		return NULL;
	switch (codec)
	{
		case CODEC_LZ4:
			{
				int			n;

				if (srclen > LZ4_MAX_INPUT_SIZE || capacity > INT_MAX)
					return NULL;
				dst = palloc(capacity);
				n = LZ4_compress_default(src, dst, (int) srclen, (int) capacity);
				if (n <= 0)
				{
					/* 0: does not fit (LZ4 has no other failure) */
					pfree(dst);
					return NULL;
				}
				*dstlen = (size_t) n;
				return dst;
			}
		case CODEC_ZSTD:
			{
				size_t		n;

				dst = palloc(capacity);
				n = ZSTD_compress(dst, capacity, src, srclen, CODEC_ZSTD_LEVEL);
				if (ZSTD_isError(n))
				{
					if (ZSTD_getErrorCode(n) != ZSTD_error_dstSize_tooSmall)
						elog(DEBUG1, "cacheaside: zstd compression failed: %s",
							 ZSTD_getErrorName(n));
					pfree(dst);
					return NULL;
				}
				*dstlen = n;
				return dst;
			}
		case CODEC_NONE:
			break;
	}
	return NULL;
}

/*
 * Decompress src[0..srclen), compressed with codec, into dst, which has
 * room for exactly dstlen bytes.  Returns true when the input is a valid
 * stream of codec that decodes to exactly dstlen bytes, else false (the
 * content of dst is then undefined).
 */
bool
codec_decompress(CodecId codec, const char *src, size_t srclen,
				 char *dst, size_t dstlen)
{
	switch (codec)
	{
		case CODEC_LZ4:
			{
				int			n;

				if (srclen > INT_MAX || dstlen > INT_MAX)
					return false;
				n = LZ4_decompress_safe(src, dst, (int) srclen, (int) dstlen);
				return n >= 0 && (size_t) n == dstlen;
			}
		case CODEC_ZSTD:
			{
				const uint8 *u = (const uint8 *) src;
				size_t		n;

				/*
				 * Exactly one frame of the current format (no legacy
				 * format, no skippable frame, nothing after it), which
				 * declares the length expected: what ZSTD_compress writes.
				 */
				if (srclen < 4 ||
					((uint32) u[0] | (uint32) u[1] << 8 | (uint32) u[2] << 16 |
					 (uint32) u[3] << 24) != ZSTD_MAGICNUMBER ||
					ZSTD_findFrameCompressedSize(src, srclen) != srclen ||
					ZSTD_getFrameContentSize(src, srclen) != dstlen)
					return false;
				n = ZSTD_decompress(dst, dstlen, src, srclen);
				return !ZSTD_isError(n) && n == dstlen;
			}
		case CODEC_NONE:
			break;
	}
	return false;
}
