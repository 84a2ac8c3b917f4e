"""The RLC Trial Platform's workshops service."""
