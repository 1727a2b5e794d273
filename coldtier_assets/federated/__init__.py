"""Federated SQL over both tiers: cold below the ledger, warm above it, never both."""
