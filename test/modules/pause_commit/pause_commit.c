/*-------------------------------------------------------------------------
 *
 * pause_commit.c
 *	  For tests only: hold a committing transaction after its commit became
 *	  visible and before the commit callbacks of the libraries loaded
 *	  before this one run.
 *
 * Transaction callbacks run last registered first: listed after cacheaside
 * in shared_preload_libraries, this library's XACT_EVENT_COMMIT callback
 * runs before cacheaside records the commit in its ledger.  A session that
 * sets pause_commit.file to the path of a file that exists when it commits
 * stops there: it creates "<file>.reached", then waits until the file is
 * removed (or 300 s pass).  Other sessions then see the commit's rows while
 * cacheaside has not recorded the commit yet: the window in which only the
 * in-flight marks made at pre-commit keep its entries from being served.
 *
 * Interrupts are held off during commit; the wait ends on postmaster death.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/wait_event.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Longest wait, in case a test dies without removing the file */
#define PAUSE_LIMIT_MS	(300 * 1000)
#define PAUSE_POLL_MS	10

static char *pause_file = NULL;

static void
pause_commit_callback(XactEvent event, void *arg)
{
	char		reached[MAXPGPATH];
	int			fd;
	int			waited = 0;

	if (event != XACT_EVENT_COMMIT || pause_file == NULL ||
		pause_file[0] == '\0' || access(pause_file, F_OK) != 0)
		return;

	snprintf(reached, sizeof(reached), "%s.reached", pause_file);
	fd = open(reached, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);

	while (access(pause_file, F_OK) == 0 && waited < PAUSE_LIMIT_MS)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PAUSE_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		waited += PAUSE_POLL_MS;
	}
}

void
_PG_init(void)
{
	DefineCustomStringVariable("pause_commit.file",
							   "Commits of this session pause while this file exists.",
							   NULL,
							   &pause_file,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("pause_commit");
	RegisterXactCallback(pause_commit_callback, NULL);
}
