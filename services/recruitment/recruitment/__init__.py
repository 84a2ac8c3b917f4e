"""The RLC Trial Platform's recruitment service."""
