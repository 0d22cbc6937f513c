"""Data protection (issue 24): masking personal data in text and exports, who sees what
(`display`: the one rule for comment text and customer fields), erasing a customer, and
the audit of who viewed a customer's record."""

from analysis.privacy.display import (
    HIDDEN,
    comment_for_role,
    customer_text,
    customer_value,
    frame_for_role,
    hide_customer_fields,
    message_for_role,
    row_for_role,
    shared_quote,
    shown_customer_keys,
)
from analysis.privacy.masking import mask_row, mask_text, mask_value

__all__ = ["HIDDEN", "comment_for_role", "customer_text", "customer_value", "frame_for_role",
           "hide_customer_fields", "mask_row", "mask_text", "mask_value", "message_for_role",
           "row_for_role", "shared_quote", "shown_customer_keys"]
