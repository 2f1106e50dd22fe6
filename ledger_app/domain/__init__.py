"""Pure business rules of the ledger, with no chain, database or web dependency.

Each module here is the Python twin of a computation the contracts also make, so
the service can quote, check and explain figures before (and after) they are on
chain. Nothing here imports the rest of ledger_app.
"""
