"""Sensors that request offload and healing runs, and the planning they use."""
