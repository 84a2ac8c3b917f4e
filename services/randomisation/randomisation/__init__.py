"""The RLC Trial Platform's randomisation service."""
