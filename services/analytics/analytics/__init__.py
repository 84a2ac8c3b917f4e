"""The RLC Trial Platform's analytics service."""
