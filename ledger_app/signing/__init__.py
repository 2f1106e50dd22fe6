"""Signing for participants: custodial keystores, and whose key signs which call."""
