/*-------------------------------------------------------------------------
 * aws_env.h
 *	  Where S3 credentials, region and endpoint come from.
 *
 * In order: explicit tbdr.* settings; the standard AWS environment variables
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
 * AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, AWS_SHARED_CREDENTIALS_FILE,
 * AWS_PROFILE); then the shared credentials file (tbdr.s3_credentials_file
 * or ~/.aws/credentials) and profile.
 *-------------------------------------------------------------------------
 */
#ifndef TBDR_AWS_ENV_H
#define TBDR_AWS_ENV_H

#include "core/config.h"

typedef struct TbdrAwsCredentials
{
	char	   *access_key_id;
	char	   *secret_access_key;
	char	   *session_token;	/* NULL if none */
	const char *source;			/* for messages: "settings", "environment",
								 * "credentials file" */
} TbdrAwsCredentials;

extern bool tbdr_aws_credentials(const TbdrConfig *cfg,
								 TbdrAwsCredentials *out, TbdrError *err);

/* tbdr.s3_region, AWS_REGION, AWS_DEFAULT_REGION, else "us-east-1". */
extern char *tbdr_aws_region(const TbdrConfig *cfg);

/*
 * tbdr.s3_endpoint, AWS_ENDPOINT_URL, else https://s3.<region>.amazonaws.com.
 * Always returned with a scheme; an endpoint given without one gets https://.
 */
extern char *tbdr_aws_endpoint(const TbdrConfig *cfg, const char *region);

#endif							/* TBDR_AWS_ENV_H */
