"""Federated SQL over both tiers: parse, plan (committed ranges cold, the rest warm), run; read-only."""
