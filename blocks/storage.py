"""S3-compatible storage blocks (Cloudflare R2 in production, moto locally)."""

from __future__ import annotations

from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket
from pydantic import SecretStr

# R2 rejects some of the CRC32 checksum headers boto3 >= 1.36 sends by default.
R2_CLIENT_CONFIG = {
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
    "signature_version": "s3v4",
}


def make_aws_credentials(
    *, endpoint_url: str, access_key_id: str, secret_access_key: str, region: str = "auto"
) -> AwsCredentials:
    """Credentials whose client parameters carry the S3-compatible endpoint."""
    return AwsCredentials(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=SecretStr(secret_access_key),
        region_name=region,
        aws_client_parameters=AwsClientParameters(
            endpoint_url=endpoint_url, config=dict(R2_CLIENT_CONFIG)
        ),
    )


def make_s3_bucket(
    *, bucket_name: str, credentials: AwsCredentials, bucket_folder: str = ""
) -> S3Bucket:
    return S3Bucket(bucket_name=bucket_name, credentials=credentials, bucket_folder=bucket_folder)
