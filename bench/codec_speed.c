/*
 * bench/codec_speed.c: how fast the codecs of cacheaside.compression are on
 * one payload, outside PostgreSQL.
 *
 *   codec_speed FILE [SECONDS]
 *
 * For LZ4 (LZ4_compress_default, LZ4_decompress_safe) and zstd at levels 1
 * and 3 (ZSTD_compress, ZSTD_decompress, as src/codec.c calls them; and
 * ZSTD_decompressDCtx with one context kept, to show what allocating the
 * context on each call costs), prints the compressed size and the time of
 * one compression and one decompression: the fastest of the batches of 4
 * calls run for SECONDS (default 1) each.  Every decompression is checked
 * against the input.  bench/compression runs it.
 */
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *src;
static size_t srclen;
static char *dst;
static size_t dstcap;
static size_t dstlen;
static char *out;
static int level;
static ZSTD_DCtx *dctx;

static void
lz4_compress(void)
{
	dstlen = LZ4_compress_default(src, dst, (int) srclen, (int) dstcap);
}

static void
lz4_decompress(void)
{
	if (LZ4_decompress_safe(dst, out, (int) dstlen, (int) srclen) != (int) srclen)
		abort();
}

static void
zstd_compress(void)
{
	dstlen = ZSTD_compress(dst, dstcap, src, srclen, level);
	if (ZSTD_isError(dstlen))
		abort();
}

static void
zstd_decompress(void)
{
	if (ZSTD_decompress(out, srclen, dst, dstlen) != srclen)
		abort();
}

static void
zstd_decompress_kept(void)
{
	if (ZSTD_decompressDCtx(dctx, out, srclen, dst, dstlen) != srclen)
		abort();
}

/*
 * Microseconds per call of fn: calls in batches of 4 for about seconds,
 * the fastest batch.  On a shared machine the fastest batch is the one
 * least disturbed by neighbours.
 */
static double
time_calls(void (*fn) (void), double seconds)
{
	double		start = now();
	double		best = -1;
	double		t;

	do
	{
		double		b = now();

		for (int i = 0; i < 4; i++)
			fn();
		t = now();
		if (best < 0 || t - b < best)
			best = t - b;
	} while (t - start < seconds);
	return best * 1e6 / 4;
}

static void
report(const char *name, void (*comp) (void), void (*decomp) (void),
	   double seconds)
{
	double		c;
	double		d;

	comp();
	memset(out, 0, srclen);
	decomp();
	if (memcmp(out, src, srclen) != 0)
		abort();
	c = time_calls(comp, seconds);
	d = time_calls(decomp, seconds);
	printf("%s %zu %zu %.1f %.1f\n", name, srclen, dstlen, c, d);
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	char	   *buf;
	long		size;
	double		seconds = argc > 2 ? atof(argv[2]) : 1.0;

	if (argc < 2 || (f = fopen(argv[1], "rb")) == NULL)
	{
		fprintf(stderr, "usage: codec_speed FILE [SECONDS]\n");
		return 2;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = malloc(size);
	if (buf == NULL || fread(buf, 1, size, f) != (size_t) size)
		return 1;
	fclose(f);
	src = buf;
	srclen = size;
	dstcap = ZSTD_compressBound(srclen) + LZ4_compressBound((int) srclen);
	dst = malloc(dstcap);
	out = malloc(srclen);
	dctx = ZSTD_createDCtx();

	/* name, input bytes, output bytes, us per compression, per decompression */
	report("lz4", lz4_compress, lz4_decompress, seconds);
	level = 1;
	report("zstd-1", zstd_compress, zstd_decompress, seconds);
	report("zstd-1-kept-dctx", zstd_compress, zstd_decompress_kept, seconds);
	level = 3;
	report("zstd-3", zstd_compress, zstd_decompress, seconds);
	ZSTD_freeDCtx(dctx);
	return 0;
}
