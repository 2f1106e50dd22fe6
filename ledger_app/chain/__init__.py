"""Talking to the chain: the managed node, compiled artifacts, transactions, deployment."""
