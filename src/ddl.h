/*-------------------------------------------------------------------------
 *
 * ddl.h
 *	  Catalog changes of this transaction that can change what a cached
 *	  query means.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_DDL_H
#define CACHEASIDE_DDL_H

#include "catalog/objectaccess.h"

extern void ddl_note(ObjectAccessType access, Oid classId, Oid objectId,
					 int subId, void *arg);
extern bool ddl_changed(bool at_commit);
extern bool ddl_roles_changed(void);
extern int	ddl_databases(const Oid **databases);
extern void ddl_reset(void);

#endif							/* CACHEASIDE_DDL_H */
