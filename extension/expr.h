/*-------------------------------------------------------------------------
 *
 * expr.h
 *	  Expressions in workflow definitions: templates and conditions.
 *
 * Both compile to PostgreSQL jsonpath text, evaluated later against the
 * context document of a step,
 *
 *		{"input": <execution input>,
 *		 "nodes": {"<node id>": {"output": ...}, ...},
 *		 "data":  <the data flowing into the node>,
 *		 "item", "index": <in a loop's body: the iteration's item, its index>}
 *
 * conditions with jsonb_path_match() semantics (NULL counts as false), and
 * template paths with jsonb_path_query_first().  No SQL text is ever built
 * from an expression.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FLOV7_EXPR_H
#define FLOV7_EXPR_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* One piece of a compiled template: literal text, or a jsonpath. */
typedef struct TemplatePart
{
	bool		is_path;
	char	   *text;			/* literal text, or jsonpath text */
} TemplatePart;

/* Loop variables an expression uses (*loop_vars bits). */
#define FLOV7_EXPR_ITEM		0x01
#define FLOV7_EXPR_INDEX	0x02

/*
 * Compile a condition ("data.valid == true and not (x < 3)") into jsonpath
 * predicate text appended to out.  Node ids named by $.nodes.<id> paths are
 * appended to *node_refs (a List of char *) when node_refs is not NULL;
 * the loop variables used ($.item, $.index) are or-ed into *loop_vars when
 * loop_vars is not NULL.
 * On a syntax error, returns false and sets *error (palloc'd, no ereport).
 */
extern bool flov7_compile_condition(const char *src, int len, StringInfo out,
									List **node_refs, int *loop_vars, char **error);

/*
 * Compile a template ("Hello {{ user.name }}") into a List of TemplatePart.
 * Same conventions as flov7_compile_condition.
 */
extern bool flov7_compile_template(const char *src, int len, List **parts,
								   List **node_refs, int *loop_vars, char **error);

/* True if the text holds a template opening "{{". */
extern bool flov7_has_template(const char *src, int len);

#endif							/* FLOV7_EXPR_H */
