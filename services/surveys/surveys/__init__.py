"""The RLC Trial Platform's surveys service."""
