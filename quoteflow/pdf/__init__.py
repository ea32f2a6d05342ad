"""The customer-facing quote PDF, rendered with xhtml2pdf from a ``QuotePreview``."""

from quoteflow.pdf.render import (
    QuotePdfError,
    SupplierContact,
    html_to_pdf,
    render_quote_html,
    render_quote_pdf,
)

__all__ = [
    "QuotePdfError",
    "SupplierContact",
    "html_to_pdf",
    "render_quote_html",
    "render_quote_pdf",
]
