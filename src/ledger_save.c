/*-------------------------------------------------------------------------
 *
 * ledger_save.c
 *	  The commit ledger kept across a clean restart.
 *
 * The ledger lives in shared memory, so a restart would make every entry
 * in Redis a miss, and the first minutes after a planned restart a
 * stampede on the database.  After a clean shutdown nothing can have
 * committed unrecorded, so the postmaster saves the ledger to
 * pg_stat/cacheaside.ledger as it exits, and the next start takes it up
 * again (ledger_restore), keeping every entry the last run could serve.
 *
 * Note about what ties the file to the data.  The file names the shutdown
 * checkpoint it was written after (its LSN) and the system identifier.  A
 * start restores it only when pg_control still says the cluster was shut
 * down cleanly at that very checkpoint, and no archive recovery or standby
 * is about to replay WAL the ledger never saw: any start in between
 * (without the library, or in single-user mode) writes another shutdown
 * checkpoint; pg_resetwal, a restored base backup, a crash or an immediate
 * shutdown leave pg_control in another state or at another checkpoint.
 * The file is removed as soon as it is read, restored or not, so a later
 * crash cannot bring it back.  A restore keeps the new run's own epoch for
 * what it stores (ledger.c).
 *
 * The ring of recent glob patterns of cache_invalidate (patterns.c) is not
 * saved, only the sequence number of its newest pattern: after the
 * restore, entries older than that are misses, as if the ring had
 * forgotten every pattern (never a stale hit; entries of a run that used
 * no pattern keep).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/ipc.h"

#include "ledger.h"
#include "ledger_save.h"
#include "patterns.h"

#define LEDGER_FILE			PGSTAT_STAT_PERMANENT_DIRECTORY "/cacheaside.ledger"
#define LEDGER_FILE_TMP		LEDGER_FILE ".tmp"
#define LEDGER_FILE_MAGIC	0x43414C47	/* "CALG" */
#define LEDGER_FILE_VERSION	2	/* 2: with the newest glob pattern */

typedef struct LedgerFileHeader
{
	uint32		magic;
	uint32		version;
	uint64		system_identifier;
	XLogRecPtr	checkpoint;		/* the shutdown checkpoint it follows */
	pg_crc32c	crc;			/* of the image */
} LedgerFileHeader;

/*
 * pg_control as it is now, or NULL when it cannot be read whole.
 */
static ControlFileData *
read_control(void)
{
	bool		crc_ok;
	ControlFileData *control = get_controlfile(DataDir, &crc_ok);

	if (!crc_ok)
	{
		pfree(control);
		return NULL;
	}
	return control;
}

/*
 * At the postmaster's exit: save the ledger if the cluster was shut down
 * cleanly (pg_control says so: an immediate shutdown or a failure does
 * not get here with that state).
 */
static void
ledger_save_at_exit(int code, Datum arg)
{
	ControlFileData *control;
	LedgerFileHeader header;
	LedgerImage *image;
	int			fd;

	if (code != 0 || !ledger_attached())
		return;
	control = read_control();
	if (control == NULL || control->state != DB_SHUTDOWNED)
		return;

	image = palloc(sizeof(LedgerImage));
	ledger_image(image);
	image->patterns_newest = patterns_newest();
	memset(&header, 0, sizeof(header));
	header.magic = LEDGER_FILE_MAGIC;
	header.version = LEDGER_FILE_VERSION;
	header.system_identifier = control->system_identifier;
	header.checkpoint = control->checkPoint;
	INIT_CRC32C(header.crc);
	COMP_CRC32C(header.crc, image, sizeof(LedgerImage));
	FIN_CRC32C(header.crc);

	fd = OpenTransientFile(LEDGER_FILE_TMP, O_CREAT | O_WRONLY | O_TRUNC | PG_BINARY);
	if (fd < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("cacheaside: could not create file \"%s\": %m",
						LEDGER_FILE_TMP)));
		return;
	}
	if (write(fd, &header, sizeof(header)) != sizeof(header) ||
		write(fd, image, sizeof(LedgerImage)) != sizeof(LedgerImage))
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("cacheaside: could not write file \"%s\": %m",
						LEDGER_FILE_TMP)));
		CloseTransientFile(fd);
		unlink(LEDGER_FILE_TMP);
		return;
	}
	if (CloseTransientFile(fd) != 0 ||
		durable_rename(LEDGER_FILE_TMP, LEDGER_FILE, LOG) != 0)
	{
		unlink(LEDGER_FILE_TMP);
		return;
	}
}

/*
 * Why the saved ledger may not be taken up at this start, or NULL.
 */
static const char *
ledger_file_refused(const LedgerFileHeader *header, const LedgerImage *image)
{
	ControlFileData *control;
	struct stat st;
	pg_crc32c	crc;

	if (header->magic != LEDGER_FILE_MAGIC ||
		header->version != LEDGER_FILE_VERSION)
		return "it is not a ledger of this version";
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, image, sizeof(LedgerImage));
	FIN_CRC32C(crc);
	if (crc != header->crc)
		return "its checksum does not match";
	control = read_control();
	if (control == NULL)
		return "pg_control could not be read";
	if (control->system_identifier != header->system_identifier)
		return "it is of another cluster";
	if (control->state != DB_SHUTDOWNED)
		return "the cluster was not shut down cleanly";
	if (control->checkPoint != header->checkpoint)
		return "the cluster ran since it was saved";
	if (stat(STANDBY_SIGNAL_FILE, &st) == 0 ||
		stat(RECOVERY_SIGNAL_FILE, &st) == 0)
		return "the cluster is about to replay WAL";
	return NULL;
}

/*
 * At the first start of shared memory (in the postmaster, with the ledger
 * just made): take up the ledger saved by a clean shutdown if nothing can
 * have been written since, and arrange for it to be saved at exit.
 */
void
ledger_save_startup(void)
{
	LedgerFileHeader header;
	LedgerImage *image;
	const char *refused = NULL;
	int			fd;
	int			nread;

	Assert(!IsUnderPostmaster);
	on_shmem_exit(ledger_save_at_exit, (Datum) 0);

	fd = OpenTransientFile(LEDGER_FILE, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("cacheaside: could not open file \"%s\": %m",
							LEDGER_FILE)));
		return;
	}
	image = palloc(sizeof(LedgerImage));
	nread = read(fd, &header, sizeof(header));
	if (nread != sizeof(header) ||
		read(fd, image, sizeof(LedgerImage)) != sizeof(LedgerImage))
		refused = "it is truncated";
	CloseTransientFile(fd);
	/* once read, never again: a later crash must not bring it back */
	unlink(LEDGER_FILE);

	if (refused == NULL)
		refused = ledger_file_refused(&header, image);
	if (refused != NULL)
	{
		ereport(LOG,
				(errmsg("cacheaside: not restoring the commit ledger saved at shutdown: %s",
						refused),
				 errdetail("Entries stored before this start are misses.")));
		pfree(image);
		return;
	}
	ledger_restore(image);
	patterns_restore(image->patterns_newest);
	pfree(image);
	ereport(LOG,
			(errmsg("cacheaside: restored the commit ledger saved at the last clean shutdown"),
			 errdetail("Entries stored before the shutdown stay valid.")));
}
