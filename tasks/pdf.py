"""render_pdf: the quote PDF, rendered with xhtml2pdf and stored through the S3Bucket block."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from prefect import task
from prefect.artifacts import create_link_artifact
from pydantic import BaseModel

from quoteflow.pdf import SupplierContact, render_quote_pdf
from quoteflow.quote import QuotePreview
from quoteflow.quote_store import record_pdf_key
from quoteflow.settings import get_settings
from quoteflow.storage import head_object, pdf_key, put_pdf
from tasks.policy import fanout_task_options

if TYPE_CHECKING:
    from prefect_aws import S3Bucket


class StoredPdf(BaseModel):
    key: str
    size: int
    sha256: str
    uploaded: bool  # False when this run had already stored it


@task(name="render_pdf", **fanout_task_options())
def render_pdf(
    preview: QuotePreview, bucket: S3Bucket, company_name: str, flow_run_id: str
) -> StoredPdf:
    """Render the quote PDF and store it at quotes/{quote_id}.pdf (once per run)."""
    key = pdf_key(preview.quote_id)
    existing = head_object(bucket, key)
    if existing is not None and existing.metadata.get("flow-run-id") == flow_run_id:
        stored = StoredPdf(
            key=key, size=existing.size, sha256=existing.metadata.get("sha256", ""), uploaded=False
        )
    else:
        settings = get_settings()
        supplier = SupplierContact.from_text(
            settings.company_address,
            phone=settings.company_phone,
            contact_name=settings.contact_name,
            contact_email=settings.reply_to,
        )
        data = render_quote_pdf(preview, company_name=company_name, supplier=supplier)
        digest = hashlib.sha256(data).hexdigest()
        put_pdf(
            bucket,
            key,
            data,
            {"quote-id": preview.quote_id, "flow-run-id": flow_run_id, "sha256": digest},
        )
        stored = StoredPdf(key=key, size=len(data), sha256=digest, uploaded=True)
    record_pdf_key(preview.quote_id, key)
    endpoint = bucket.credentials.aws_client_parameters.endpoint_url or "s3://"
    create_link_artifact(
        key=f"quote-pdf-{preview.quote_id.lower()}",
        link=f"{endpoint.rstrip('/')}/{bucket.bucket_name}/{key}",
        link_text=f"{key} ({stored.size:,} bytes)",
        description=f"Quote PDF for {preview.customer_name}, {preview.school_year}",
    )
    return stored
