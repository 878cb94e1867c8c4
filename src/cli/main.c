/*-------------------------------------------------------------------------
 * main.c
 *	  The tbdr command-line program: command dispatch.
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

int
main(int argc, char **argv)
{
	fprintf(stderr, "tbdr: no commands yet\n");
	return 1;
}
