/*-------------------------------------------------------------------------
 *
 * oidarray.h
 *	  A growing array of OIDs, in the memory context current when it grows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_OIDARRAY_H
#define CACHEASIDE_OIDARRAY_H

typedef struct OidArray
{
	Oid		   *oids;
	int			n;
	int			max;
} OidArray;

#define OID_ARRAY_EMPTY {NULL, 0, 0}

static inline void
oid_array_add(OidArray *array, Oid oid)
{
	if (array->n == array->max)
	{
		array->max = Max(16, array->max * 2);
		array->oids = array->oids == NULL ?
			palloc(sizeof(Oid) * array->max) :
			repalloc(array->oids, sizeof(Oid) * array->max);
	}
	array->oids[array->n++] = oid;
}

/* Add oid unless the array has it already */
static inline void
oid_array_add_unique(OidArray *array, Oid oid)
{
	for (int i = 0; i < array->n; i++)
		if (array->oids[i] == oid)
			return;
	oid_array_add(array, oid);
}

#endif							/* CACHEASIDE_OIDARRAY_H */
