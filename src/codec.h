/*-------------------------------------------------------------------------
 *
 * codec.h
 *	  Compression of entry payloads: LZ4 and zstd behind one interface.
 *
 * The codec ids are stored in entries (entry.h): they never change meaning.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_CODEC_H
#define CACHEASIDE_CODEC_H

/* Codecs, by the id stored in an entry; also the values of the setting */
typedef enum CodecId
{
	CODEC_NONE = 0,				/* stored as it is */
	CODEC_LZ4 = 1,				/* an LZ4 block (not a frame) */
	CODEC_ZSTD = 2				/* one or more zstd frames */
} CodecId;

#define CODEC_MAX_ID	CODEC_ZSTD

/* Level of zstd compression: its fastest regular level */
#define CODEC_ZSTD_LEVEL	1

extern const char *codec_name(CodecId codec);
extern char *codec_compress(CodecId codec, const char *src, size_t srclen,
							size_t capacity, size_t *dstlen);
extern bool codec_decompress(CodecId codec, const char *src, size_t srclen,
							 char *dst, size_t dstlen);

#endif							/* CACHEASIDE_CODEC_H */
