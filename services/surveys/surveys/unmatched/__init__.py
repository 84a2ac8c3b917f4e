"""unmatched."""
