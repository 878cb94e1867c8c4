/*-------------------------------------------------------------------------
 * sigv4_dump.c
 *	  Sign requests read from stdin and print what the signer computed, for
 *	  the cross-check against botocore (test/unit/sigv4_botocore.py).
 *
 * Run as "sigv4_dump -".  Without that argument it prints a skipped TAP
 * plan and exits, so that a "prove build/test/" does not hang on stdin.
 *
 * Input, one request per line, fields separated by one space, each field
 * written as 'x' followed by the hex of its bytes (so that empty strings,
 * spaces, tabs and any byte survive):
 *
 *	 method path payload_hash region service access_key secret_key amz_date
 *	 nquery name value ... nheaders name value ...
 *
 * (nquery and nheaders are hex-encoded decimal numbers like the rest.)
 *
 * Output, one line per request, same encoding:
 *
 *	 canonical_request signature authorization canonical_query
 *-------------------------------------------------------------------------
 */
#include "core/tbdr_base.h"

#include <stdio.h>

#include "core/digest.h"
#include "core/sigv4.h"
#include "lib/stringinfo.h"

/* Decode the next field of *p; NULL at the end of the line or if malformed. */
static char *
next_field(char **p)
{
	char	   *s = *p;
	char	   *out;
	size_t		n;

	while (*s == ' ')
		s++;
	if (*s != 'x')
		return NULL;
	s++;
	n = strcspn(s, " \n");
	out = palloc(n / 2 + 1);
	if (n % 2 != 0 || !tbdr_hex_decode(s, (unsigned char *) out, n / 2))
		return NULL;
	out[n / 2] = '\0';
	s += n;
	*p = s;
	return out;
}

static void
print_field(const char *s)
{
	putchar('x');
	for (; *s; s++)
		printf("%02x", (unsigned char) *s);
}

static bool
read_pairs(char **p, TbdrKeyValue **kv, int *n)
{
	char	   *count = next_field(p);
	int			i;

	if (count == NULL)
		return false;
	*n = atoi(count);
	*kv = palloc0(sizeof(TbdrKeyValue) * (*n + 1));
	for (i = 0; i < *n; i++)
	{
		(*kv)[i].name = next_field(p);
		(*kv)[i].value = next_field(p);
		if ((*kv)[i].name == NULL || (*kv)[i].value == NULL)
			return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	char	   *line = NULL;
	size_t		cap = 0;
	int			lineno = 0;

	if (argc != 2 || strcmp(argv[1], "-") != 0)
	{
		printf("1..0 # SKIP not a test: run by test/unit/sigv4_botocore.py\n");
		return 0;
	}

	while (getline(&line, &cap, stdin) >= 0)
	{
		TbdrSigV4Request r;
		TbdrKeyValue *q;
		TbdrKeyValue *h;
		char	   *p = line;
		char	   *cr;
		char	   *sts;
		char	   *sig;
		char	   *auth;
		char	   *cq;

		lineno++;
		memset(&r, 0, sizeof(r));
		r.method = next_field(&p);
		r.path = next_field(&p);
		r.payload_hash = next_field(&p);
		r.region = next_field(&p);
		r.service = next_field(&p);
		r.access_key_id = next_field(&p);
		r.secret_access_key = next_field(&p);
		r.amz_date = next_field(&p);
		if (r.amz_date == NULL || !read_pairs(&p, &q, &r.nquery) ||
			!read_pairs(&p, &h, &r.nheaders))
		{
			fprintf(stderr, "sigv4_dump: malformed input line %d\n", lineno);
			return 2;
		}
		r.query = q;
		r.headers = h;

		cr = tbdr_sigv4_canonical_request(&r, NULL);
		sts = tbdr_sigv4_string_to_sign(&r, cr);
		sig = tbdr_sigv4_signature(&r, sts);
		auth = tbdr_sigv4_authorization(&r);
		cq = tbdr_sigv4_canonical_query(r.query, r.nquery);

		print_field(cr);
		printf(" %s ", sig);
		print_field(auth);
		putchar(' ');
		print_field(cq);
		putchar('\n');
	}
	free(line);
	return ferror(stdin) ? 1 : 0;
}
