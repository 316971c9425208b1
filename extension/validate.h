/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  The validator of workflow definitions and its limits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FLOV7_VALIDATE_H
#define FLOV7_VALIDATE_H

/* Settings (PGC_SUSET): the limits past which a document is not a definition. */
extern int	flov7_max_workflow_nodes;	/* flov7.max_workflow_nodes */
extern int	flov7_max_workflow_bytes;	/* flov7.max_workflow_bytes */
extern int	flov7_max_workflow_depth;	/* flov7.max_workflow_depth */

/* Define the settings; called once from _PG_init. */
extern void flov7_validate_init(void);

#endif							/* FLOV7_VALIDATE_H */
