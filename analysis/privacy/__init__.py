"""Data protection (issue 24): masking personal data in text and exports, erasing a
customer, and the audit of who viewed a customer's record."""

from analysis.privacy.masking import mask_row, mask_text, mask_value

__all__ = ["mask_row", "mask_text", "mask_value"]
