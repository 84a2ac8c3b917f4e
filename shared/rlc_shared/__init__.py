"""The RLC Trial Platform's shared library: one place for what every service needs."""
