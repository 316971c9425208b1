/*-------------------------------------------------------------------------
 *
 * expr.c
 *	  Templates and conditions of workflow definitions, compiled to jsonpath.
 *
 * A path names a value in the context document of a step (see expr.h):
 *
 *		$.input.x				the execution's input
 *		$.nodes.<id>.output.y	the output of another node
 *		$.data.x				the data flowing into the node
 *		$.item, $.index			inside a loop's body: the iteration's item and
 *								its 0-based index (the validator refuses them
 *								elsewhere, rule loop_variable_outside_loop)
 *		user.email				a bare path: into the data flowing into the
 *								node, as the original platform wrote them; a
 *								leading "data" names that data itself, so
 *								"data.valid" and "valid" are the same value
 *
 * Segments are .name (letters, digits, _ and -), ."quoted name", [n] (an
 * array index) and, in conditions only, [*] (every element).
 *
 * A template is text with {{ path }} holes.  A condition is
 *
 *		or		:= and { ("or" | "||") and }
 *		and		:= not { ("and" | "&&") not }
 *		not		:= ("not" | "!") not | cmp
 *		cmp		:= operand [ ("==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") operand ]
 *		operand := path | {{ path }} | 'string' | "string" | number
 *				 | true | false | null | "(" or ")"
 *
 * keywords in any case.  An operand standing alone as a condition is true
 * when it equals JSON true.  The whole condition may be wrapped in {{ }}.
 * Comparisons follow jsonpath: no type coercion, and a comparison with a
 * missing value is not true.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "expr.h"

/* Deepest nesting of parentheses and "not" in a condition. */
#define EXPR_MAX_DEPTH 64

typedef enum TokKind
{
	T_END,
	T_IDENT,
	T_STRING,
	T_NUMBER,
	T_DOLLAR,
	T_DOT,
	T_LBRACKET,
	T_RBRACKET,
	T_STAR,
	T_LPAREN,
	T_RPAREN,
	T_CMP,
	T_AND,
	T_OR,
	T_NOT,
	T_OPEN,						/* {{ */
	T_CLOSE						/* }} */
} TokKind;

/* What an operand compiled to: a JSON value, or a predicate. */
typedef enum ExprKind
{
	EK_VALUE,
	EK_PRED
} ExprKind;

typedef struct Parser
{
	const char *src;
	int			end;			/* scan stops here */
	int			pos;			/* next byte to scan */
	bool		in_template;	/* [*] is not allowed */
	int			depth;
	List	  **node_refs;
	int		   *loop_vars;		/* FLOV7_EXPR_ITEM | FLOV7_EXPR_INDEX used */
	char	   *error;			/* first error, or NULL */

	/* the current token */
	TokKind		kind;
	int			start;			/* its offset in src */
	int			tlen;			/* its length in src */
	char	   *sval;			/* decoded string of T_STRING */
	const char *op;				/* jsonpath operator of T_CMP */
} Parser;

PG_FUNCTION_INFO_V1(flov7_compile_condition_sql);
PG_FUNCTION_INFO_V1(flov7_compile_template_sql);

/* Record the first error, with its 1-based position; always returns false. */
static bool
fail(Parser *p, int at, const char *msg)
{
	if (p->error == NULL)
		p->error = psprintf("%s at character %d", msg, at + 1);
	return false;
}

/* Fail on the current token: "unexpected ..." with what was expected. */
static bool
fail_token(Parser *p, const char *expected)
{
	if (p->kind == T_END)
		return fail(p, p->start, psprintf("expected %s, found the end", expected));
	return fail(p, p->start, psprintf("expected %s, found \"%.*s\"", expected,
									  Min(p->tlen, 40), p->src + p->start));
}

/* True for the blanks between tokens. */
static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* True for bytes that may continue a name (non-ASCII bytes included). */
static bool
is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-' || c >= 0x80;
}

/* True for bytes that may start a name. */
static bool
is_name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		c >= 0x80;
}

/* True if the current token is the word w (ASCII, any case). */
static bool
tok_is_word(Parser *p, const char *w)
{
	return p->kind == T_IDENT && (int) strlen(w) == p->tlen &&
		pg_strncasecmp(p->src + p->start, w, p->tlen) == 0;
}

/* Scan a quoted string starting at p->pos (on the quote). */
static bool
scan_string(Parser *p)
{
	char		quote = p->src[p->pos];
	StringInfoData buf;
	int			i = p->pos + 1;

	initStringInfo(&buf);
	for (;;)
	{
		char		c;

		if (i >= p->end)
			return fail(p, p->pos, "unterminated string");
		c = p->src[i];
		if (c == quote)
			break;
		if (c == '\\')
		{
			if (i + 1 >= p->end)
				return fail(p, p->pos, "unterminated string");
			switch (p->src[i + 1])
			{
				case '\\':
				case '\'':
				case '"':
				case '/':
					c = p->src[i + 1];
					break;
				case 'n':
					c = '\n';
					break;
				case 't':
					c = '\t';
					break;
				case 'r':
					c = '\r';
					break;
				default:
					return fail(p, i, "unknown escape in string (use \\\\, \\', \\\", \\n, \\t or \\r)");
			}
			i++;
		}
		appendStringInfoChar(&buf, c);
		i++;
	}
	p->kind = T_STRING;
	p->sval = buf.data;
	p->pos = i + 1;
	return true;
}

/* Scan a JSON number starting at p->pos. */
static bool
scan_number(Parser *p)
{
	const char *s = p->src;
	int			i = p->pos;

	if (s[i] == '-')
		i++;
	if (i < p->end && s[i] == '0')
		i++;
	else if (i < p->end && s[i] >= '1' && s[i] <= '9')
	{
		while (i < p->end && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	else
		return fail(p, p->pos, "malformed number");
	if (i < p->end && s[i] == '.')
	{
		i++;
		if (i >= p->end || s[i] < '0' || s[i] > '9')
			return fail(p, p->pos, "malformed number");
		while (i < p->end && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < p->end && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < p->end && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->end || s[i] < '0' || s[i] > '9')
			return fail(p, p->pos, "malformed number");
		while (i < p->end && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < p->end && (is_name_char((unsigned char) s[i]) || s[i] == '.'))
		return fail(p, p->pos, "malformed number");
	p->kind = T_NUMBER;
	p->pos = i;
	return true;
}

/* Recognise a two-character token (a, b); sets the token kind. */
static bool
two_char_token(Parser *p, char a, char b)
{
	static const struct
	{
		char		a;
		char		b;
		TokKind		kind;
		const char *op;
	}			tokens[] = {
		{'{', '{', T_OPEN, NULL},
		{'}', '}', T_CLOSE, NULL},
		{'=', '=', T_CMP, "=="},
		{'!', '=', T_CMP, "!="},
		{'<', '>', T_CMP, "!="},
		{'<', '=', T_CMP, "<="},
		{'>', '=', T_CMP, ">="},
		{'&', '&', T_AND, NULL},
		{'|', '|', T_OR, NULL},
	};
	int			i;

	for (i = 0; i < lengthof(tokens); i++)
		if (tokens[i].a == a && tokens[i].b == b)
		{
			p->kind = tokens[i].kind;
			p->op = tokens[i].op;
			return true;
		}
	return false;
}

/* Recognise a one-character token; sets the token kind. */
static bool
one_char_token(Parser *p, char c)
{
	switch (c)
	{
		case '<':
			p->kind = T_CMP;
			p->op = "<";
			return true;
		case '>':
			p->kind = T_CMP;
			p->op = ">";
			return true;
		case '!':
			p->kind = T_NOT;
			return true;
		case '$':
			p->kind = T_DOLLAR;
			return true;
		case '.':
			p->kind = T_DOT;
			return true;
		case '[':
			p->kind = T_LBRACKET;
			return true;
		case ']':
			p->kind = T_RBRACKET;
			return true;
		case '*':
			p->kind = T_STAR;
			return true;
		case '(':
			p->kind = T_LPAREN;
			return true;
		case ')':
			p->kind = T_RPAREN;
			return true;
		default:
			return false;
	}
}

/* Advance to the next token. */
static bool
next_token(Parser *p)
{
	const char *s = p->src;
	char		c;

	while (p->pos < p->end && is_blank(s[p->pos]))
		p->pos++;
	p->start = p->pos;
	p->sval = NULL;
	p->op = NULL;
	if (p->pos >= p->end)
	{
		p->kind = T_END;
		p->tlen = 0;
		return true;
	}

	c = s[p->pos];
	if (p->pos + 1 < p->end && two_char_token(p, c, s[p->pos + 1]))
		p->pos += 2;
	else if (one_char_token(p, c))
		p->pos++;
	else if (c == '=')
		return fail(p, p->pos, "unexpected \"=\" (use \"==\" to compare)");
	else if (c == '\'' || c == '"')
	{
		if (!scan_string(p))
			return false;
	}
	else if ((c >= '0' && c <= '9') ||
			 (c == '-' && p->pos + 1 < p->end && s[p->pos + 1] >= '0' && s[p->pos + 1] <= '9'))
	{
		if (!scan_number(p))
			return false;
	}
	else if (is_name_start((unsigned char) c))
	{
		while (p->pos < p->end && is_name_char((unsigned char) s[p->pos]))
			p->pos++;
		p->kind = T_IDENT;
		p->tlen = p->pos - p->start;
		if (tok_is_word(p, "and"))
			p->kind = T_AND;
		else if (tok_is_word(p, "or"))
			p->kind = T_OR;
		else if (tok_is_word(p, "not"))
			p->kind = T_NOT;
	}
	else
		return fail(p, p->pos, psprintf("unexpected \"%c\"", c));
	p->tlen = p->pos - p->start;
	return true;
}

/* Append a jsonpath key segment ."name" for the given bytes. */
static void
append_key(StringInfo out, const char *name, int len)
{
	char	   *s = pnstrdup(name, len);

	appendStringInfoChar(out, '.');
	escape_json(out, s);
	pfree(s);
}

/*
 * Read one key after "." or inside "[...]": a name (keywords included) or a
 * quoted string, into *name and *len; the token is consumed.
 */
static bool
read_key(Parser *p, char **name, int *len)
{
	if (p->kind == T_IDENT || p->kind == T_AND || p->kind == T_OR || p->kind == T_NOT)
	{
		*name = pnstrdup(p->src + p->start, p->tlen);
		*len = p->tlen;
	}
	else if (p->kind == T_STRING)
	{
		*name = p->sval;
		*len = strlen(p->sval);
	}
	else
		return fail_token(p, "a name");
	return next_token(p);
}

/* Parse the segments that follow a path's root. */
static bool
parse_segments(Parser *p, StringInfo out, bool record_node)
{
	for (;;)
	{
		char	   *name;
		int			len;

		if (p->kind == T_DOT)
		{
			if (!next_token(p) || !read_key(p, &name, &len))
				return false;
		}
		else if (p->kind == T_LBRACKET)
		{
			if (!next_token(p))
				return false;
			if (p->kind == T_STRING)
			{
				name = p->sval;
				len = strlen(p->sval);
			}
			else if (record_node)
				return fail_token(p, "a node id");
			else if (p->kind == T_NUMBER)
			{
				const char *num = p->src + p->start;
				int			i;

				for (i = 0; i < p->tlen; i++)
					if (num[i] < '0' || num[i] > '9')
						return fail(p, p->start, "an array index is a whole number, 0 or more");
				if (p->tlen > 9)
					return fail(p, p->start, "array index too large");
				appendStringInfo(out, "[%.*s]", p->tlen, num);
				name = NULL;
			}
			else if (p->kind == T_STAR)
			{
				if (p->in_template)
					return fail(p, p->start, "[*] names many values; a template names one");
				appendStringInfoString(out, "[*]");
				name = NULL;
			}
			else
				return fail_token(p, "an index, * or a quoted name");
			if (!next_token(p))
				return false;
			if (p->kind != T_RBRACKET)
				return fail_token(p, "\"]\"");
			if (!next_token(p))
				return false;
			if (name == NULL)
				continue;
		}
		else
			return true;

		if (record_node)
		{
			if (p->node_refs != NULL)
				*p->node_refs = lappend(*p->node_refs, pnstrdup(name, len));
			record_node = false;
		}
		append_key(out, name, len);
	}
}

/* Parse a path (the current token is "$" or a name) into jsonpath text. */
static bool
parse_path(Parser *p, StringInfo out)
{
	bool		record_node = false;

	if (p->kind == T_DOLLAR)
	{
		int			at = p->start;
		char	   *root;
		int			len;

		if (!next_token(p))
			return false;
		if (p->kind != T_DOT)
			return fail(p, at, "a path starting with $ names a root: $.input, $.nodes, $.data, $.item or $.index");
		if (!next_token(p) || !read_key(p, &root, &len))
			return false;
		if (strcmp(root, "item") == 0 || strcmp(root, "index") == 0)
		{
			if (p->loop_vars != NULL)
				*p->loop_vars |= root[1] == 't' ? FLOV7_EXPR_ITEM : FLOV7_EXPR_INDEX;
		}
		else if (strcmp(root, "input") != 0 && strcmp(root, "nodes") != 0 &&
				 strcmp(root, "data") != 0)
			return fail(p, at, psprintf("unknown root \"$.%s\" (use $.input, $.nodes, $.data, $.item or $.index)", root));
		appendStringInfoString(out, "$");
		append_key(out, root, len);
		record_node = strcmp(root, "nodes") == 0;
	}
	else if (p->kind == T_IDENT)
	{
		appendStringInfoString(out, "$.\"data\"");
		if (p->tlen != 4 || strncmp(p->src + p->start, "data", 4) != 0)
			append_key(out, p->src + p->start, p->tlen);
		if (!next_token(p))
			return false;
	}
	else
		return fail_token(p, "a path");

	return parse_segments(p, out, record_node);
}

static bool parse_or(Parser *p, StringInfo out, ExprKind *kind);

/* Turn a compiled operand into a predicate: a value counts when it is true. */
static void
as_predicate(StringInfo out, StringInfo in, ExprKind kind)
{
	if (kind == EK_VALUE)
		appendStringInfo(out, "(%s == true)", in->data);
	else
		appendStringInfoString(out, in->data);
}

/* operand := path | {{ path }} | literal | ( or ) */
static bool
parse_operand(Parser *p, StringInfo out, ExprKind *kind)
{
	*kind = EK_VALUE;
	switch (p->kind)
	{
		case T_LPAREN:
			{
				int			at = p->start;

				if (++p->depth > EXPR_MAX_DEPTH)
					return fail(p, at, "condition nested too deeply");
				if (!next_token(p) || !parse_or(p, out, kind))
					return false;
				if (p->kind != T_RPAREN)
					return fail_token(p, "\")\"");
				p->depth--;
				return next_token(p);
			}
		case T_OPEN:
			if (!next_token(p) || !parse_path(p, out))
				return false;
			if (p->kind != T_CLOSE)
				return fail_token(p, "\"}}\"");
			return next_token(p);
		case T_STRING:
			escape_json(out, p->sval);
			return next_token(p);
		case T_NUMBER:
			appendBinaryStringInfo(out, p->src + p->start, p->tlen);
			return next_token(p);
		case T_IDENT:
			if (tok_is_word(p, "true") || tok_is_word(p, "false") || tok_is_word(p, "null"))
			{
				char	   *w = pnstrdup(p->src + p->start, p->tlen);
				char	   *c;

				for (c = w; *c; c++)
					*c = pg_ascii_tolower((unsigned char) *c);
				appendStringInfoString(out, w);
				return next_token(p);
			}
			return parse_path(p, out);
		case T_DOLLAR:
			return parse_path(p, out);
		default:
			return fail_token(p, "a value");
	}
}

/* cmp := operand [ op operand ] */
static bool
parse_cmp(Parser *p, StringInfo out, ExprKind *kind)
{
	StringInfoData left;
	StringInfoData right;
	ExprKind	lk;
	ExprKind	rk;
	const char *op;
	int			at;

	initStringInfo(&left);
	at = p->start;
	if (!parse_operand(p, &left, &lk))
		return false;
	if (p->kind != T_CMP)
	{
		appendStringInfoString(out, left.data);
		*kind = lk;
		return true;
	}
	op = p->op;
	if (lk != EK_VALUE)
		return fail(p, at, "the left side of a comparison must be a value, not a condition");
	if (!next_token(p))
		return false;
	at = p->start;
	initStringInfo(&right);
	if (!parse_operand(p, &right, &rk))
		return false;
	if (rk != EK_VALUE)
		return fail(p, at, "the right side of a comparison must be a value, not a condition");
	if (p->kind == T_CMP)
		return fail(p, p->start, "comparisons do not chain; join them with \"and\"");
	appendStringInfo(out, "(%s %s %s)", left.data, op, right.data);
	*kind = EK_PRED;
	return true;
}

/* not := ("not" | "!") not | cmp */
static bool
parse_not(Parser *p, StringInfo out, ExprKind *kind)
{
	StringInfoData inner;
	ExprKind	ik;

	if (p->kind != T_NOT)
		return parse_cmp(p, out, kind);
	if (++p->depth > EXPR_MAX_DEPTH)
		return fail(p, p->start, "condition nested too deeply");
	check_stack_depth();
	if (!next_token(p))
		return false;
	initStringInfo(&inner);
	if (!parse_not(p, &inner, &ik))
		return false;
	p->depth--;
	appendStringInfoString(out, "!");
	if (ik == EK_VALUE)
		appendStringInfo(out, "(%s == true)", inner.data);
	else if (inner.data[0] == '(')
		appendStringInfoString(out, inner.data);
	else
		appendStringInfo(out, "(%s)", inner.data);
	*kind = EK_PRED;
	return true;
}

/* A chain of operands joined by one boolean operator (and / or). */
static bool
parse_chain(Parser *p, StringInfo out, ExprKind *kind, TokKind joiner,
			const char *jp_op, bool (*operand) (Parser *, StringInfo, ExprKind *))
{
	StringInfoData first;
	ExprKind	fk;

	check_stack_depth();
	initStringInfo(&first);
	if (!operand(p, &first, &fk))
		return false;
	if (p->kind != joiner)
	{
		appendStringInfoString(out, first.data);
		*kind = fk;
		return true;
	}
	appendStringInfoChar(out, '(');
	as_predicate(out, &first, fk);
	while (p->kind == joiner)
	{
		StringInfoData next;
		ExprKind	nk;

		if (!next_token(p))
			return false;
		initStringInfo(&next);
		if (!operand(p, &next, &nk))
			return false;
		appendStringInfo(out, " %s ", jp_op);
		as_predicate(out, &next, nk);
	}
	appendStringInfoChar(out, ')');
	*kind = EK_PRED;
	return true;
}

/* and := not { and-operator not } */
static bool
parse_and(Parser *p, StringInfo out, ExprKind *kind)
{
	return parse_chain(p, out, kind, T_AND, "&&", parse_not);
}

/* or := and { or-operator and } */
static bool
parse_or(Parser *p, StringInfo out, ExprKind *kind)
{
	return parse_chain(p, out, kind, T_OR, "||", parse_and);
}

/* Set up a parser over src[start, end) and read its first token. */
static bool
parser_init(Parser *p, const char *src, int start, int end, List **node_refs,
			int *loop_vars, bool in_template)
{
	memset(p, 0, sizeof(*p));
	p->src = src;
	p->pos = start;
	p->end = end;
	p->node_refs = node_refs;
	p->loop_vars = loop_vars;
	p->in_template = in_template;
	return next_token(p);
}

/* True if the text holds a template opening "{{". */
bool
flov7_has_template(const char *src, int len)
{
	int			i;

	for (i = 0; i + 1 < len; i++)
		if (src[i] == '{' && src[i + 1] == '{')
			return true;
	return false;
}

/* Offset of the first "}}" at or after from, or -1. */
static int
find_close(const char *src, int from, int len)
{
	int			i;

	for (i = from; i + 1 < len; i++)
		if (src[i] == '}' && src[i + 1] == '}')
			return i;
	return -1;
}

/* Compile a condition into jsonpath predicate text; see expr.h. */
bool
flov7_compile_condition(const char *src, int len, StringInfo out,
						List **node_refs, int *loop_vars, char **error)
{
	Parser		p;
	StringInfoData body;
	ExprKind	kind;
	int			start = 0;
	int			end = len;

	/* A condition may be wrapped whole in {{ }}. */
	while (start < end && is_blank(src[start]))
		start++;
	while (end > start && is_blank(src[end - 1]))
		end--;
	if (end - start >= 4 && src[start] == '{' && src[start + 1] == '{' &&
		find_close(src, start + 2, end) == end - 2)
	{
		start += 2;
		end -= 2;
	}

	*error = NULL;
	if (!parser_init(&p, src, start, end, node_refs, loop_vars, false))
	{
		*error = p.error;
		return false;
	}
	if (p.kind == T_END)
	{
		*error = pstrdup("the condition is empty");
		return false;
	}
	initStringInfo(&body);
	if (!parse_or(&p, &body, &kind) ||
		(p.kind != T_END && !fail_token(&p, "an operator or the end")))
	{
		*error = p.error;
		return false;
	}
	as_predicate(out, &body, kind);
	return true;
}

/* Compile a template into literal and path parts; see expr.h. */
bool
flov7_compile_template(const char *src, int len, List **parts,
					   List **node_refs, int *loop_vars, char **error)
{
	int			pos = 0;

	*error = NULL;
	*parts = NIL;
	while (pos < len)
	{
		int			open = -1;
		int			close;
		int			i;
		Parser		p;
		TemplatePart *part;
		StringInfoData path;

		for (i = pos; i + 1 < len; i++)
			if (src[i] == '{' && src[i + 1] == '{')
			{
				open = i;
				break;
			}
		if (open < 0)
			open = len;
		if (open > pos)
		{
			part = palloc0(sizeof(TemplatePart));
			part->text = pnstrdup(src + pos, open - pos);
			*parts = lappend(*parts, part);
		}
		if (open >= len)
			break;

		close = find_close(src, open + 2, len);
		if (close < 0)
		{
			*error = psprintf("unterminated \"{{\" at character %d", open + 1);
			return false;
		}
		if (!parser_init(&p, src, open + 2, close, node_refs, loop_vars, true))
		{
			*error = p.error;
			return false;
		}
		if (p.kind == T_END)
		{
			*error = psprintf("empty \"{{ }}\" at character %d", open + 1);
			return false;
		}
		initStringInfo(&path);
		if (!parse_path(&p, &path) ||
			(p.kind != T_END && !fail_token(&p, "\"}}\" (a template holds one path)")))
		{
			*error = p.error;
			return false;
		}
		part = palloc0(sizeof(TemplatePart));
		part->is_path = true;
		part->text = path.data;
		*parts = lappend(*parts, part);
		pos = close + 2;
	}
	return true;
}

/* flov7.compile_condition(text) RETURNS jsonpath */
Datum
flov7_compile_condition_sql(PG_FUNCTION_ARGS)
{
	text	   *src = PG_GETARG_TEXT_PP(0);
	StringInfoData out;
	char	   *error;

	initStringInfo(&out);
	if (!flov7_compile_condition(VARDATA_ANY(src), VARSIZE_ANY_EXHDR(src), &out,
								 NULL, NULL, &error))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid condition expression"),
				 errdetail("The condition has a syntax error: %s.", error),
				 errhint("A condition compares paths and literals, e.g. data.valid == true and not (data.count > 3).")));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonpath_in, CStringGetDatum(out.data)));
}

/*
 * flov7.compile_template(text) RETURNS jsonb: an array of parts, each a
 * string (literal text) or {"path": "<jsonpath>"}.
 */
Datum
flov7_compile_template_sql(PG_FUNCTION_ARGS)
{
	text	   *src = PG_GETARG_TEXT_PP(0);
	List	   *parts;
	ListCell   *lc;
	StringInfoData out;
	char	   *error;
	bool		first = true;

	if (!flov7_compile_template(VARDATA_ANY(src), VARSIZE_ANY_EXHDR(src), &parts,
								NULL, NULL, &error))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid template"),
				 errdetail("The template has a syntax error: %s.", error),
				 errhint("A template is text with {{ path }} holes, e.g. Hello {{ user.name }}.")));

	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	foreach(lc, parts)
	{
		TemplatePart *part = lfirst(lc);

		if (!first)
			appendStringInfoString(&out, ", ");
		first = false;
		if (part->is_path)
		{
			appendStringInfoString(&out, "{\"path\": ");
			escape_json(&out, part->text);
			appendStringInfoChar(&out, '}');
		}
		else
			escape_json(&out, part->text);
	}
	appendStringInfoChar(&out, ']');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
