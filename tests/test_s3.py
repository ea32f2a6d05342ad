"""PDF storage through the registered S3Bucket blocks, on the stack's moto server."""

from __future__ import annotations

import os
import uuid

import pytest
from botocore.exceptions import ClientError
from prefect_aws import S3Bucket

from devstack.stack import StackState
from quoteflow.settings import get_settings


def fake_pdf(size: int = 200 * 1024) -> bytes:
    """PDF-sized bytes that start like a PDF and are not compressible into a false pass."""
    header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    trailer = b"\n%%EOF\n"
    return header + os.urandom(size - len(header) - len(trailer)) + trailer


def test_pdf_written_and_read_back_through_the_block(stack: StackState) -> None:
    bucket = S3Bucket.load(get_settings().s3_bucket_block)
    quote_id = f"Q-{uuid.uuid4().hex[:12]}"
    key = f"quotes/{quote_id}.pdf"
    pdf = fake_pdf()

    written = bucket.write_path(key, pdf)
    assert written == key  # bucket_folder "" adds no prefix
    assert bucket.read_path(key) == pdf

    client = bucket.credentials.get_s3_client()
    head = client.head_object(Bucket=stack.s3.bucket if stack.s3 else "", Key=key)
    assert head["ContentLength"] == len(pdf)
    body = client.get_object(Bucket=bucket.bucket_name, Key=key)["Body"].read()
    assert body.startswith(b"%PDF")


def test_missing_object_is_a_404(stack: StackState) -> None:
    bucket = S3Bucket.load(get_settings().s3_bucket_block)
    client = bucket.credentials.get_s3_client()
    with pytest.raises(ClientError) as info:
        client.head_object(Bucket=bucket.bucket_name, Key=f"quotes/{uuid.uuid4().hex}.pdf")
    assert info.value.response["Error"]["Code"] == "404"


def test_results_block_writes_under_its_own_folder(stack: StackState) -> None:
    results = S3Bucket.load(get_settings().results_block)
    name = f"result-{uuid.uuid4().hex}"
    payload = b'{"result": 42}'
    results.write_path(name, payload)

    client = results.credentials.get_s3_client()
    head = client.head_object(Bucket=results.bucket_name, Key=f"prefect-results/{name}")
    assert head["ContentLength"] == len(payload)
    assert results.read_path(name) == payload


def test_r2_client_configuration_on_the_loaded_block(stack: StackState) -> None:
    assert stack.s3 is not None
    bucket = S3Bucket.load(get_settings().s3_bucket_block)
    credentials = bucket.credentials
    assert credentials.region_name == "auto"
    params = credentials.aws_client_parameters
    assert params.endpoint_url == stack.s3.endpoint_url
    assert params.config is not None
    assert params.config["request_checksum_calculation"] == "when_required"
    assert params.config["response_checksum_validation"] == "when_required"

    # And the client actually built from the block carries it.
    client = credentials.get_s3_client()
    assert client.meta.region_name == "auto"
    assert client.meta.endpoint_url == stack.s3.endpoint_url
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
