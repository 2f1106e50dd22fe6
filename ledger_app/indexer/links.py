"""The trace's link of an event to its receivable: the rule is domain/links.py's (the
audit's completeness check applies it to the node's logs too); kept here for the store
and for migration 0005, which import it from the indexer."""

from ledger_app.domain.links import TRACED, LinkLookups, is_traced, link, link_all

__all__ = ["TRACED", "LinkLookups", "is_traced", "link", "link_all"]
