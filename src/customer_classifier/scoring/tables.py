"""The names of the tables nightly scoring writes, and the rule an output name must follow.

Scoring drops and recreates its staging table and replaces the whole output table every
night, and its SQL carries the name unquoted. So a name must be a plain lower-case SQL
identifier (what PostgreSQL and SQLite read the same way without quotes), and it must
never be a table that scoring does not own: a source table of the data contract, another
output's staging or history table. ``CC_PREDICTIONS_TABLE=customers`` would otherwise drop
the Customers table.
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as POSTGRES_RESERVED
from sqlalchemy.sql.compiler import RESERVED_WORDS as SQL_RESERVED

from customer_classifier.data.contract import CUSTOMERS, LABELS, SALES

STAGING_SUFFIX = "__staging"
HISTORY_SUFFIX = "_history"
SHARDS_SUFFIX = "__shards"
SOURCE_TABLES = (CUSTOMERS, SALES, LABELS)
MAX_LENGTH = 63 - len(STAGING_SUFFIX)
"""PostgreSQL truncates identifiers beyond 63 bytes; the staging name must still fit."""
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_FIX = "set CC_PREDICTIONS_TABLE to a table of its own, e.g. customer_predictions"


def staging_table(table: str) -> str:
    """Where a run writes its rows before the swap."""
    return f"{table}{STAGING_SUFFIX}"


def shard_staging_table(table: str, run_id: str, index: int) -> str:
    """Where shard ``index`` of run ``run_id`` writes: named by both, within PostgreSQL's
    63 bytes (a run id from KFP is a 36-character UUID, so it is hashed)."""
    key = hashlib.sha256(f"{table}/{run_id}".encode()).hexdigest()[:12]
    return f"{table[:36]}__shard_{key}_{index}"


def shard_ledger_table(table: str) -> str:
    """The plan of each sharded night and what its shards reported."""
    return f"{table}{SHARDS_SUFFIX}"


def history_table(table: str) -> str:
    """The append-only prediction history beside ``table``."""
    return f"{table}{HISTORY_SUFFIX}"


def output_table_problem(name: str) -> str | None:
    """Why ``name`` cannot be the predictions table (a sentence with the fix), or None."""
    shown = repr(name)
    if not _IDENTIFIER.fullmatch(name) or len(name) > MAX_LENGTH:
        return (
            f"CC_PREDICTIONS_TABLE {shown} is not a plain SQL identifier: use lower-case "
            f"letters, digits and '_', starting with a letter or '_', at most {MAX_LENGTH} "
            f"characters; {_FIX}"
        )
    if name in SQL_RESERVED or name in POSTGRES_RESERVED:
        return f"CC_PREDICTIONS_TABLE {shown} is a reserved SQL word; {_FIX}"
    if name in SOURCE_TABLES:
        return (
            f"CC_PREDICTIONS_TABLE {shown} is a source table of the data contract "
            f"({', '.join(SOURCE_TABLES)}), which the nightly swap would replace; {_FIX}"
        )
    for suffix, what in (
        (STAGING_SUFFIX, "staging"),
        (HISTORY_SUFFIX, "prediction history"),
        (SHARDS_SUFFIX, "shard ledger"),
    ):
        if name.endswith(suffix):
            return (
                f"CC_PREDICTIONS_TABLE {shown} ends in {suffix!r}, which names the {what} "
                f"table of another output (scoring writes {staging_table('<table>')} and "
                f"{history_table('<table>')} itself); {_FIX}"
            )
    return None
