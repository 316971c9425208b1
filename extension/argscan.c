/*-------------------------------------------------------------------------
 *
 * argscan.c
 *	  The scans flov7.args() runs over a request body before PostgreSQL's
 *	  JSON parser sees it: is it blank, and is it nested too deeply.
 *
 * Plain C on purpose, without postgres.h: a fuzz harness (test/fuzz/args.c)
 * links this file alone with PostgreSQL's frontend JSON parser and checks
 * that the depth gate agrees with the parser that follows it, with no
 * server running.
 *
 *-------------------------------------------------------------------------
 */
#include "argscan.h"

/* True if the string holds nothing but JSON whitespace. */
bool
argscan_blank(const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	return true;
}

/*
 * True if arrays and objects nest deeper than max_depth.  A linear scan that
 * skips string contents is enough: it runs before the recursive JSON parser,
 * so that hostile input is bad input, not a stack overflow.
 */
bool
argscan_too_deep(const char *s, int len, int max_depth)
{
	int			depth = 0;
	bool		in_string = false;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		ch = s[i];

		if (in_string)
		{
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		}
		else if (ch == '"')
			in_string = true;
		else if (ch == '[' || ch == '{')
		{
			if (++depth > max_depth)
				return true;
		}
		else if (ch == ']' || ch == '}')
			depth--;
	}
	return false;
}
