/*-------------------------------------------------------------------------
 *
 * nearcache.c
 *	  The near-cache: copies of Redis values in shared memory.
 *
 * A bounded store of (Redis key name, the value's exact bytes, expiry)
 * in PostgreSQL's shared memory, made only when the library is preloaded
 * and cacheaside.local_cache_size is above 0.  The entry store (store.c)
 * looks here before Redis and keeps a copy of what a Redis read found;
 * the copy is decoded and checked by the same code as a Redis hit, so the
 * near-cache decides nothing about validity.  Redis stays the store of
 * record: the near-cache only ever holds what Redis held a moment ago.
 *
 * Layout.  The memory is cut into NEAR_PARTITIONS partitions, each with
 * its own LWLock, its own share of NEAR_CHUNK_SIZE-byte chunks on a free
 * list, and its own hash table of chains of entries (bucket heads are
 * chunk numbers).  A key's hash picks its partition and its bucket.  An
 * entry is a chain of chunks: the first holds a NearHead and the first
 * bytes of the key and value, the others the rest, so entries of any size
 * up to a quarter of a partition fit without fragmentation.
 *
 * Eviction is CLOCK: a hit raises the entry's usage count (up to
 * NEAR_USAGE_MAX); to free chunks the partition's hand sweeps its chunks,
 * lowering the count of each entry it passes and evicting the first whose
 * count is zero.  An entry hit a few times survives a scan of several
 * partitions' worth of cold entries.  When nothing can be freed (an entry
 * larger than a quarter of the partition, say), the value is simply not
 * kept: allocation failure never fails a call.
 *
 * Note about locking.  Readers take their partition's lock shared, copy
 * the value out into palloc'd memory and release it; no lock is ever held
 * across network I/O.  The usage count is an atomic, raised by readers
 * under the shared lock.  Insertion, removal and eviction take the lock
 * exclusive.
 *
 * Note about the race of a refill with an invalidation.  Backend A reads
 * a value from Redis; meanwhile B stores a new one, or invalidates it, and
 * removes the near copy; then A would insert its older copy, and every
 * backend would be served it until its expiry.  To prevent that each
 * partition has a generation, raised by every removal (whether or not a
 * copy was there) and flush.  A reads the generation of its key's
 * partition before it sends its GET and inserts only if it is unchanged.
 * B removes the copy only after Redis has answered its SET or UNLINK; so
 * either A's GET came after B's change (A read the new state), or B's
 * removal comes after A read the generation: then A's insert finds the
 * generation raised and gives up, or came first and is removed by B.  The
 * tracker (tracker.c) removes copies that changed in Redis behind our
 * back in the same way.
 *
 * Note about the sync bound.  Changes made in Redis by others (another
 * PostgreSQL sharing it, a user's DEL, Redis's own eviction) reach the
 * near-cache only through the tracker.  The tracker records in shared
 * memory when it last knew itself in step with Redis ("synced"); near
 * copies are served, and inserted, only while that is less than
 * NEARCACHE_SYNC_BOUND_MS ago, and only for sessions whose Redis server,
 * database and key prefix are the ones the tracker follows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "config.h"
#include "nearcache.h"

#define NEAR_PARTITIONS		16
#define NEAR_CHUNK_SIZE		512
#define NEAR_USAGE_MAX		5
#define NEAR_LOCK_TRANCHE	"cacheaside near-cache"

/* Fewest chunks a partition gets when the near-cache is on */
#define NEAR_MIN_PART_CHUNKS	16

/* What a chunk is used for */
#define NEAR_CHUNK_FREE		0
#define NEAR_CHUNK_HEAD		1	/* the first of an entry: NearHead */
#define NEAR_CHUNK_BODY		2	/* a later one of an entry */

typedef struct NearChunk
{
	int32		next;			/* next chunk of the entry, or next free
								 * chunk; -1: none */
	uint16		kind;			/* NEAR_CHUNK_* */
	uint16		unused;
	char		data[NEAR_CHUNK_SIZE - 8];
} NearChunk;

StaticAssertDecl(sizeof(NearChunk) == NEAR_CHUNK_SIZE,
				 "a chunk is NEAR_CHUNK_SIZE bytes");

/* At the start of the data of an entry's first chunk */
typedef struct NearHead
{
	uint64		hash;			/* of the key */
	TimestampTz expires;
	int32		bucket_next;	/* first chunk of the next entry of the
								 * bucket, or -1 */
	uint32		keylen;
	uint32		valuelen;
	pg_atomic_uint32 usage;		/* CLOCK count, 0..NEAR_USAGE_MAX */
} NearHead;

/* Bytes of key and value in a first chunk, and in the others */
#define NEAR_HEAD_OFFSET	MAXALIGN(sizeof(NearHead))
#define NEAR_HEAD_CAPACITY	(sizeof(((NearChunk *) 0)->data) - NEAR_HEAD_OFFSET)
#define NEAR_BODY_CAPACITY	(sizeof(((NearChunk *) 0)->data))

typedef struct NearPartition
{
	pg_atomic_uint64 generation;	/* raised by removals and flushes */
	int32		free_head;		/* under the lock, as all that follows */
	int32		nfree;
	int32		hand;			/* next chunk the clock looks at (relative) */
	int32		nentries;
	int64		nbytes;			/* of keys and values */
} NearPartition;

typedef struct NearShared
{
	pg_atomic_uint64 synced;	/* TimestampTz of the tracker's last sync,
								 * 0: not in step with Redis */
	pg_atomic_uint64 target;	/* nearcache_target_hash() of the Redis the
								 * tracker follows */
	int32		part_chunks;	/* chunks per partition */
	int32		part_buckets;	/* buckets per partition, a power of 2 */
	NearPartition parts[NEAR_PARTITIONS];
} NearShared;

/* This process's pointers into shared memory (NULL: near-cache off) */
static NearShared *near = NULL;
static LWLockPadded *near_locks = NULL;
static int32 *near_buckets = NULL;
static NearChunk *near_chunks = NULL;


/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

static int32
near_part_chunks(void)
{
	int64		total = (int64) cacheaside_local_cache_size * 1024 / NEAR_CHUNK_SIZE;

	return (int32) Max(total / NEAR_PARTITIONS, NEAR_MIN_PART_CHUNKS);
}

static int32
near_part_buckets(void)
{
	int32		want = Max(near_part_chunks() / 2, 8);
	int32		n = 8;

	while (n < want)
		n <<= 1;
	return n;
}

Size
nearcache_shmem_size(void)
{
	Size		size;

	if (cacheaside_local_cache_size == 0)
		return 0;
	size = MAXALIGN(sizeof(NearShared));
	size = add_size(size, MAXALIGN(mul_size(sizeof(int32),
											mul_size(NEAR_PARTITIONS,
													 near_part_buckets()))));
	size = add_size(size, PG_CACHE_LINE_SIZE);
	size = add_size(size, mul_size(sizeof(NearChunk),
								   mul_size(NEAR_PARTITIONS,
											near_part_chunks())));
	return size;
}

/* From the shared memory request hook: the partitions' locks */
void
nearcache_shmem_request(void)
{
	if (cacheaside_local_cache_size > 0)
		RequestNamedLWLockTranche(NEAR_LOCK_TRANCHE, NEAR_PARTITIONS);
}

/*
 * Attach to the near-cache, making it empty at the first start.  Called
 * with AddinShmemInitLock held.
 */
void
nearcache_shmem_init(void)
{
	bool		found;
	char	   *p;
	int32		nchunks;
	int32		nbuckets;

	if (cacheaside_local_cache_size == 0)
		return;
	nchunks = near_part_chunks();
	nbuckets = near_part_buckets();
	p = ShmemInitStruct("cacheaside near-cache", nearcache_shmem_size(),
						&found);
	near = (NearShared *) p;
	p += MAXALIGN(sizeof(NearShared));
	near_buckets = (int32 *) p;
	p += MAXALIGN(sizeof(int32) * NEAR_PARTITIONS * nbuckets);
	near_chunks = (NearChunk *) TYPEALIGN(PG_CACHE_LINE_SIZE, p);
	near_locks = GetNamedLWLockTranche(NEAR_LOCK_TRANCHE);

	if (found)
		return;

	pg_atomic_init_u64(&near->synced, 0);
	pg_atomic_init_u64(&near->target, 0);
	near->part_chunks = nchunks;
	near->part_buckets = nbuckets;
	for (int i = 0; i < NEAR_PARTITIONS * nbuckets; i++)
		near_buckets[i] = -1;
	for (int part = 0; part < NEAR_PARTITIONS; part++)
	{
		NearPartition *np = &near->parts[part];
		int32		base = part * nchunks;

		pg_atomic_init_u64(&np->generation, 1);
		for (int32 i = 0; i < nchunks; i++)
		{
			near_chunks[base + i].next = (i + 1 < nchunks) ? base + i + 1 : -1;
			near_chunks[base + i].kind = NEAR_CHUNK_FREE;
		}
		np->free_head = base;
		np->nfree = nchunks;
		np->hand = 0;
		np->nentries = 0;
		np->nbytes = 0;
	}
}

/*
 * Is there a near-cache in this server?
 */
bool
nearcache_enabled(void)
{
	return near != NULL;
}


/* ----------------------------------------------------------------
 * Which Redis, and whether the tracker is in step with it
 * ----------------------------------------------------------------
 */

/*
 * A hash of this session's Redis server, database and key prefix: the
 * near-cache serves only sessions that use the ones the tracker follows.
 */
uint64
nearcache_target_hash(void)
{
	static uint64 generation = 0;
	static uint64 cached = 0;
	uint64		h;

	/* the settings are hashed again only after one of them was assigned */
	if (generation == cacheaside_target_generation)
		return cached;

	h = hash_bytes_extended((const unsigned char *) cacheaside_host,
							strlen(cacheaside_host), 0);
	h = hash_combine64(h, hash_bytes_extended((const unsigned char *) cacheaside_key_prefix,
											  strlen(cacheaside_key_prefix), 1));
	h = hash_combine64(h, (uint64) cacheaside_port);
	h = hash_combine64(h, (uint64) cacheaside_database);
	h = hash_combine64(h, hash_bytes_extended((const unsigned char *) cacheaside_sentinels,
											  strlen(cacheaside_sentinels), 2));
	h = hash_combine64(h, hash_bytes_extended((const unsigned char *) cacheaside_sentinel_master,
											  strlen(cacheaside_sentinel_master), 3));
	h = hash_combine64(h, hash_bytes_extended((const unsigned char *) cacheaside_password_file,
											  strlen(cacheaside_password_file), 4));
	cached = h | 1;				/* never 0 */
	generation = cacheaside_target_generation;
	return cached;
}

/*
 * The tracker's word: in step with the Redis of target as of synced, or
 * (synced 0) not in step.
 */
void
nearcache_set_synced(TimestampTz synced, uint64 target)
{
	if (near == NULL)
		return;
	if (synced == 0)
	{
		pg_atomic_write_u64(&near->synced, 0);
		pg_memory_barrier();
		return;
	}
	pg_atomic_write_u64(&near->target, target);
	pg_write_barrier();
	pg_atomic_write_u64(&near->synced, (uint64) synced);
}

/*
 * May this session use the near-cache now?  Only when it exists, the
 * tracker was in step with Redis less than NEARCACHE_SYNC_BOUND_MS ago,
 * and this session uses the Redis, database and key prefix the tracker
 * follows.
 */
bool
nearcache_usable(void)
{
	TimestampTz synced;

	if (near == NULL)
		return false;
	synced = (TimestampTz) pg_atomic_read_u64(&near->synced);
	if (synced == 0 ||
		GetCurrentTimestamp() - synced > NEARCACHE_SYNC_BOUND_MS * (int64) 1000)
		return false;
	pg_read_barrier();
	return pg_atomic_read_u64(&near->target) == nearcache_target_hash();
}


/* ----------------------------------------------------------------
 * Chains of chunks
 * ----------------------------------------------------------------
 */

static inline NearHead *
near_head(int32 chunk)
{
	return (NearHead *) near_chunks[chunk].data;
}

/* A position in the bytes (key, then value) of an entry */
typedef struct NearCursor
{
	int32		chunk;
	char	   *p;
	size_t		left;			/* bytes left in this chunk */
} NearCursor;

static inline void
near_cursor_init(NearCursor *c, int32 head)
{
	c->chunk = head;
	c->p = near_chunks[head].data + NEAR_HEAD_OFFSET;
	c->left = NEAR_HEAD_CAPACITY;
}

/* The next span of at most want bytes: its address and length */
static inline size_t
near_cursor_span(NearCursor *c, size_t want, char **span)
{
	size_t		n;

	if (c->left == 0)
	{
		c->chunk = near_chunks[c->chunk].next;
		Assert(c->chunk >= 0);
		c->p = near_chunks[c->chunk].data;
		c->left = NEAR_BODY_CAPACITY;
	}
	n = Min(want, c->left);
	*span = c->p;
	c->p += n;
	c->left -= n;
	return n;
}

static void
near_cursor_read(NearCursor *c, char *dst, size_t len)
{
	while (len > 0)
	{
		char	   *span;
		size_t		n = near_cursor_span(c, len, &span);

		if (dst)
		{
			memcpy(dst, span, n);
			dst += n;
		}
		len -= n;
	}
}

static void
near_cursor_write(NearCursor *c, const char *src, size_t len)
{
	while (len > 0)
	{
		char	   *span;
		size_t		n = near_cursor_span(c, len, &span);

		memcpy(span, src, n);
		src += n;
		len -= n;
	}
}

static bool
near_cursor_equal(NearCursor *c, const char *src, size_t len)
{
	while (len > 0)
	{
		char	   *span;
		size_t		n = near_cursor_span(c, len, &span);

		if (memcmp(span, src, n) != 0)
			return false;
		src += n;
		len -= n;
	}
	return true;
}

/* Chunks an entry of these sizes takes */
static int32
near_chunks_needed(size_t keylen, size_t valuelen)
{
	size_t		total = keylen + valuelen;

	if (total <= NEAR_HEAD_CAPACITY)
		return 1;
	return 1 + (int32) ((total - NEAR_HEAD_CAPACITY + NEAR_BODY_CAPACITY - 1) /
						NEAR_BODY_CAPACITY);
}


/* ----------------------------------------------------------------
 * Entries of a partition (its lock held)
 * ----------------------------------------------------------------
 */

static inline int
near_partition(uint64 hash)
{
	return (int) (hash % NEAR_PARTITIONS);
}

static inline int32 *
near_bucket(int part, uint64 hash)
{
	return &near_buckets[part * near->part_buckets +
						 ((hash / NEAR_PARTITIONS) & (near->part_buckets - 1))];
}

static inline uint64
near_hash(const char *key, size_t keylen)
{
	return hash_bytes_extended((const unsigned char *) key, (int) keylen, 0);
}

/* The first chunk of the entry of key, or -1 (the lock held) */
static int32
near_find(int part, uint64 hash, const char *key, size_t keylen)
{
	for (int32 c = *near_bucket(part, hash); c >= 0;
		 c = near_head(c)->bucket_next)
	{
		NearHead   *h = near_head(c);
		NearCursor	cur;

		if (h->hash != hash || h->keylen != keylen)
			continue;
		near_cursor_init(&cur, c);
		if (near_cursor_equal(&cur, key, keylen))
			return c;
	}
	return -1;
}

/* Remove the entry that starts at chunk head (the lock held exclusive) */
static void
near_remove_entry(int part, int32 head)
{
	NearPartition *np = &near->parts[part];
	NearHead   *h = near_head(head);
	int32	   *link = near_bucket(part, h->hash);
	int32		c;

	while (*link != head)
	{
		Assert(*link >= 0);
		link = &near_head(*link)->bucket_next;
	}
	*link = h->bucket_next;
	np->nentries--;
	np->nbytes -= h->keylen + h->valuelen;

	c = head;
	while (c >= 0)
	{
		int32		next = near_chunks[c].next;

		near_chunks[c].kind = NEAR_CHUNK_FREE;
		near_chunks[c].next = np->free_head;
		np->free_head = c;
		np->nfree++;
		c = next;
	}
}

/*
 * Evict one entry by CLOCK: false when none could be (the lock held
 * exclusive).
 */
static bool
near_evict_one(int part)
{
	NearPartition *np = &near->parts[part];
	int32		base = part * near->part_chunks;
	int64		limit = (int64) near->part_chunks * (NEAR_USAGE_MAX + 1);

	for (int64 step = 0; step < limit; step++)
	{
		int32		c = base + np->hand;
		NearHead   *h;
		uint32		usage;

		np->hand = (np->hand + 1) % near->part_chunks;
		if (near_chunks[c].kind != NEAR_CHUNK_HEAD)
			continue;
		h = near_head(c);
		usage = pg_atomic_read_u32(&h->usage);
		if (usage > 0)
		{
			pg_atomic_write_u32(&h->usage, usage - 1);
			continue;
		}
		near_remove_entry(part, c);
		return true;
	}
	return false;
}

/*
 * Take n chunks, linked, evicting entries as needed: the first, or -1
 * when they cannot be had (the lock held exclusive).
 */
static int32
near_alloc(int part, int32 n)
{
	NearPartition *np = &near->parts[part];
	int32		first;
	int32		last;

	while (np->nfree < n)
		if (!near_evict_one(part))
			return -1;
	first = last = np->free_head;
	near_chunks[first].kind = NEAR_CHUNK_HEAD;
	for (int32 i = 1; i < n; i++)
	{
		last = near_chunks[last].next;
		near_chunks[last].kind = NEAR_CHUNK_BODY;
	}
	np->free_head = near_chunks[last].next;
	near_chunks[last].next = -1;
	np->nfree -= n;
	return first;
}


/* ----------------------------------------------------------------
 * Backends
 * ----------------------------------------------------------------
 */

/*
 * The generation of key's partition: read before the Redis read whose
 * value may be inserted with nearcache_put.
 */
uint64
nearcache_generation(const char *key, size_t keylen)
{
	if (near == NULL)
		return 0;
	return pg_atomic_read_u64(&near->parts[near_partition(near_hash(key, keylen))].generation);
}

/*
 * The value held under key, copied into palloc'd (MAXALIGNed) memory with
 * *len its length, or NULL.  An expired copy is removed.  Callers check
 * nearcache_usable() first.
 */
char *
nearcache_get(const char *key, size_t keylen, size_t *len)
{
	uint64		hash;
	int			part;
	int32		c;
	LWLock	   *lock;
	char	   *value = NULL;
	bool		expired = false;

	if (near == NULL)
		return NULL;
	hash = near_hash(key, keylen);
	part = near_partition(hash);
	lock = &near_locks[part].lock;

	LWLockAcquire(lock, LW_SHARED);
	c = near_find(part, hash, key, keylen);
	if (c >= 0)
	{
		NearHead   *h = near_head(c);

		if (h->expires <= GetCurrentTimestamp())
			expired = true;
		else
		{
			NearCursor	cur;
			uint32		usage = pg_atomic_read_u32(&h->usage);

			/* an error here releases the lock at abort */
			value = palloc_extended(h->valuelen + 1, MCXT_ALLOC_HUGE);
			near_cursor_init(&cur, c);
			near_cursor_read(&cur, NULL, h->keylen);
			near_cursor_read(&cur, value, h->valuelen);
			value[h->valuelen] = '\0';
			*len = h->valuelen;
			if (usage < NEAR_USAGE_MAX)
				(void) pg_atomic_compare_exchange_u32(&h->usage, &usage,
													  usage + 1);
		}
	}
	LWLockRelease(lock);

	if (expired)
	{
		LWLockAcquire(lock, LW_EXCLUSIVE);
		c = near_find(part, hash, key, keylen);
		if (c >= 0 && near_head(c)->expires <= GetCurrentTimestamp())
			near_remove_entry(part, c);
		LWLockRelease(lock);
	}
	return value;
}

/*
 * Keep a copy of value under key until expires, unless the partition's
 * generation is no longer the one read before the value was (see the
 * note at the top), or room cannot be made: then nothing is kept.
 */
void
nearcache_put(const char *key, size_t keylen, const char *value, size_t len,
			  TimestampTz expires, uint64 generation)
{
	uint64		hash;
	int			part;
	int32		need;
	int32		c;
	NearPartition *np;
	NearHead   *h;
	NearCursor	cur;
	int32	   *bucket;

	if (near == NULL || expires <= GetCurrentTimestamp() ||
		keylen + len > PG_UINT32_MAX)
		return;
	need = near_chunks_needed(keylen, len);
	if (need > near->part_chunks / 4)
		return;					/* would push out too much */
	hash = near_hash(key, keylen);
	part = near_partition(hash);
	np = &near->parts[part];

	LWLockAcquire(&near_locks[part].lock, LW_EXCLUSIVE);
	if (pg_atomic_read_u64(&np->generation) != generation)
	{
		LWLockRelease(&near_locks[part].lock);
		return;
	}
	c = near_find(part, hash, key, keylen);
	if (c >= 0)
		near_remove_entry(part, c);
	c = near_alloc(part, need);
	if (c < 0)
	{
		LWLockRelease(&near_locks[part].lock);
		return;
	}
	h = near_head(c);
	h->hash = hash;
	h->expires = expires;
	h->keylen = (uint32) keylen;
	h->valuelen = (uint32) len;
	pg_atomic_init_u32(&h->usage, 0);
	near_cursor_init(&cur, c);
	near_cursor_write(&cur, key, keylen);
	near_cursor_write(&cur, value, len);
	bucket = near_bucket(part, hash);
	h->bucket_next = *bucket;
	*bucket = c;
	np->nentries++;
	np->nbytes += keylen + len;
	LWLockRelease(&near_locks[part].lock);
}

/*
 * Forget the copy under key, if any, and raise the generation of its
 * partition in any case: a read of Redis in progress may not insert what
 * it read.
 */
void
nearcache_remove(const char *key, size_t keylen)
{
	uint64		hash;
	int			part;
	int32		c;

	if (near == NULL)
		return;
	hash = near_hash(key, keylen);
	part = near_partition(hash);
	LWLockAcquire(&near_locks[part].lock, LW_EXCLUSIVE);
	pg_atomic_fetch_add_u64(&near->parts[part].generation, 1);
	c = near_find(part, hash, key, keylen);
	if (c >= 0)
		near_remove_entry(part, c);
	LWLockRelease(&near_locks[part].lock);
}

/*
 * Forget the copies whose keys match the Redis glob pattern, and raise
 * every generation.
 */
void
nearcache_remove_matching(const char *pattern, size_t len)
{
	StringInfoData key;

	if (near == NULL)
		return;
	initStringInfo(&key);
	for (int part = 0; part < NEAR_PARTITIONS; part++)
	{
		int32		base = part * near->part_chunks;

		LWLockAcquire(&near_locks[part].lock, LW_EXCLUSIVE);
		pg_atomic_fetch_add_u64(&near->parts[part].generation, 1);
		for (int32 i = 0; i < near->part_chunks; i++)
		{
			NearHead   *h;
			NearCursor	cur;

			if (near_chunks[base + i].kind != NEAR_CHUNK_HEAD)
				continue;
			h = near_head(base + i);
			resetStringInfo(&key);
			enlargeStringInfo(&key, h->keylen);
			near_cursor_init(&cur, base + i);
			near_cursor_read(&cur, key.data, h->keylen);
			if (nearcache_glob_match(pattern, len, key.data, h->keylen))
				near_remove_entry(part, base + i);
		}
		LWLockRelease(&near_locks[part].lock);
	}
	pfree(key.data);
}

/*
 * Forget every copy, and raise every generation.
 */
void
nearcache_flush(void)
{
	if (near == NULL)
		return;
	for (int part = 0; part < NEAR_PARTITIONS; part++)
	{
		NearPartition *np = &near->parts[part];
		int32		base = part * near->part_chunks;

		LWLockAcquire(&near_locks[part].lock, LW_EXCLUSIVE);
		pg_atomic_fetch_add_u64(&np->generation, 1);
		if (np->nentries > 0)
		{
			for (int32 b = 0; b < near->part_buckets; b++)
				near_buckets[part * near->part_buckets + b] = -1;
			for (int32 i = 0; i < near->part_chunks; i++)
			{
				near_chunks[base + i].next =
					(i + 1 < near->part_chunks) ? base + i + 1 : -1;
				near_chunks[base + i].kind = NEAR_CHUNK_FREE;
			}
			np->free_head = base;
			np->nfree = near->part_chunks;
			np->nentries = 0;
			np->nbytes = 0;
		}
		LWLockRelease(&near_locks[part].lock);
	}
}

/*
 * What cache_status shows.
 */
void
nearcache_status(NearCacheStatus *status)
{
	memset(status, 0, sizeof(NearCacheStatus));
	if (near == NULL)
		return;
	status->on = true;
	status->capacity = (int64) NEAR_PARTITIONS * near->part_chunks *
		NEAR_CHUNK_SIZE;
	status->synced = (TimestampTz) pg_atomic_read_u64(&near->synced);
	for (int part = 0; part < NEAR_PARTITIONS; part++)
	{
		LWLockAcquire(&near_locks[part].lock, LW_SHARED);
		status->entries += near->parts[part].nentries;
		status->bytes += near->parts[part].nbytes;
		LWLockRelease(&near_locks[part].lock);
	}
}


/* ----------------------------------------------------------------
 * Redis glob patterns
 * ----------------------------------------------------------------
 */

/*
 * Does the one-character element of the pattern at p (a literal, an
 * escaped character, '?' or a [class]) match c?  *elen: its length.
 */
static bool
glob_element_match(const char *p, size_t plen, char c, size_t *elen)
{
	if (p[0] == '?')
	{
		*elen = 1;
		return true;
	}
	if (p[0] == '\\' && plen >= 2)
	{
		*elen = 2;
		return p[1] == c;
	}
	if (p[0] == '[')
	{
		size_t		i = 1;
		bool		negate = false;
		bool		match = false;

		if (i < plen && p[i] == '^')
		{
			negate = true;
			i++;
		}
		/* up to the closing bracket, or the end of the pattern */
		while (i < plen && p[i] != ']')
		{
			if (p[i] == '\\' && i + 1 < plen)
			{
				if (p[i + 1] == c)
					match = true;
				i += 2;
			}
			else if (i + 2 < plen && p[i + 1] == '-')
			{
				unsigned char lo = (unsigned char) p[i];
				unsigned char hi = (unsigned char) p[i + 2];
				unsigned char uc = (unsigned char) c;
				signed char slo = (signed char) p[i];
				signed char shi = (signed char) p[i + 2];
				signed char sc = (signed char) c;

				if (lo > hi)
				{
					unsigned char t = lo;

					lo = hi;
					hi = t;
				}
				if (slo > shi)
				{
					signed char t = slo;

					slo = shi;
					shi = t;
				}

				/*
				 * Redis compares the bytes of a range as (signed) char:
				 * with bytes above 127 the two readings differ.  A copy
				 * removed in excess costs a Redis hit, one left behind
				 * would be served: match under either.
				 */
				if ((uc >= lo && uc <= hi) || (sc >= slo && sc <= shi))
					match = true;
				i += 3;
			}
			else
			{
				if (p[i] == c)
					match = true;
				i++;
			}
		}
		*elen = (i < plen) ? i + 1 : i;
		return negate ? !match : match;
	}
	*elen = 1;
	return p[0] == c;
}

/*
 * Does str match the Redis glob pattern (as SCAN MATCH and KEYS read it)?
 * Each '*' matches any run of characters; only the last '*' is ever
 * backtracked to, so the time is at most the product of the lengths.
 */
bool
nearcache_glob_match(const char *pattern, size_t plen, const char *str,
					 size_t slen)
{
	size_t		pi = 0;
	size_t		si = 0;
	size_t		star_p = 0;		/* pattern position after the last '*' */
	size_t		star_s = 0;		/* string position that '*' matched up to */
	bool		star = false;

	while (si < slen)
	{
		size_t		elen;

		if (pi < plen && pattern[pi] == '*')
		{
			star = true;
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < plen &&
			glob_element_match(pattern + pi, plen - pi, str[si], &elen))
		{
			pi += elen;
			si++;
			continue;
		}
		if (!star)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < plen && pattern[pi] == '*')
		pi++;
	return pi == plen;
}
