/*-------------------------------------------------------------------------
 * ereport.c
 *	  A core error reported with ereport (see ereport.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "backend/ereport.h"

/*
 * The SQLSTATE of each core error code.  Errors of the repository or the
 * network are an external routine's failure; the others have a class of
 * their own.
 */
static const struct
{
	TbdrErrCode code;
	int			sqlstate;
}			sqlstates[] =
{
	{TBDR_OK, ERRCODE_INTERNAL_ERROR},
	{TBDR_ERR_CONFIG, ERRCODE_INVALID_PARAMETER_VALUE},
	{TBDR_ERR_IO, ERRCODE_IO_ERROR},
	{TBDR_ERR_NOT_FOUND, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION},
	{TBDR_ERR_AUTH, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION},
	{TBDR_ERR_S3, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION},
	{TBDR_ERR_NETWORK, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION},
	{TBDR_ERR_CORRUPT, ERRCODE_DATA_CORRUPTED},
	{TBDR_ERR_CONFLICT, ERRCODE_LOCK_NOT_AVAILABLE},
	{TBDR_ERR_CRYPTO, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION},
	{TBDR_ERR_INTERNAL, ERRCODE_INTERNAL_ERROR},
};

int
tbdr_sqlstate(TbdrErrCode code)
{
	for (int i = 0; i < lengthof(sqlstates); i++)
	{
		if (sqlstates[i].code == code)
			return sqlstates[i].sqlstate;
	}
	return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
}

int
tbdr_errfrom(const TbdrError *err)
{
	char	   *line = tbdr_error_format(err);

	errcode(tbdr_sqlstate(err->code));
	errmsg_internal("%s", line);
	if (err->hint[0])
		errhint("%s", err->hint);
	pfree(line);
	return 0;					/* return value does not matter */
}
