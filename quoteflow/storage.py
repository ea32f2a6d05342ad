"""Quote PDFs in the S3-compatible bucket behind a prefect-aws S3Bucket block."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

if TYPE_CHECKING:  # prefect_aws costs ~1 s of import; callers hand us a loaded block
    from prefect_aws import S3Bucket

PDF_CONTENT_TYPE = "application/pdf"


def pdf_key(quote_id: str) -> str:
    """Where the contract stores a quote's PDF."""
    return f"quotes/{quote_id}.pdf"


class StoredObject(BaseModel):
    key: str
    size: int
    content_type: str | None
    metadata: dict[str, str]
    etag: str | None


def _full_key(bucket: S3Bucket, key: str) -> str:
    folder = (bucket.bucket_folder or "").strip("/")
    return f"{folder}/{key}" if folder else key


def _client(bucket: S3Bucket) -> Any:
    return bucket.credentials.get_s3_client()


def is_not_found(exc: ClientError) -> bool:
    """Whether S3 answered that the object is not there."""
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def head_object(bucket: S3Bucket, key: str) -> StoredObject | None:
    """The object's metadata, or None when it does not exist (S3Bucket has no exists())."""
    try:
        head = _client(bucket).head_object(Bucket=bucket.bucket_name, Key=_full_key(bucket, key))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return StoredObject(
        key=key,
        size=head["ContentLength"],
        content_type=head.get("ContentType"),
        metadata=head.get("Metadata", {}),
        etag=head.get("ETag"),
    )


def put_pdf(bucket: S3Bucket, key: str, data: bytes, metadata: dict[str, str]) -> None:
    """Upload through the block with the PDF content type and our metadata."""
    bucket.upload_from_file_object(
        io.BytesIO(data),
        key,
        ExtraArgs={"ContentType": PDF_CONTENT_TYPE, "Metadata": metadata},
    )


def read_object(bucket: S3Bucket, key: str) -> bytes:
    return bucket.read_path(key)


def read_prefix(bucket: S3Bucket, key: str, length: int = 8) -> bytes:
    """The first bytes of an object (a ranged GET), enough to check a file signature."""
    resp = _client(bucket).get_object(
        Bucket=bucket.bucket_name, Key=_full_key(bucket, key), Range=f"bytes=0-{length - 1}"
    )
    return resp["Body"].read()
