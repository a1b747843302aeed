"""The database schema, as numbered migrations run in order at start and by `litecursor db upgrade`.

A migration is never edited once released: a change is a new migration. Each is written once
for both databases; `{serial}` and `{bigint}` are the only spellings that differ. The version
is kept in `litecursor_meta`; a database newer than this code is refused, never downgraded.
"""

from __future__ import annotations

from dataclasses import dataclass


class SchemaTooNewError(Exception):
    """The database was upgraded by a newer litecursor."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"the database schema is version {found}, newer than this litecursor knows "
            f"(version {known}): upgrade litecursor, or point database_url at another database; "
            "it is never downgraded"
        )
        self.found = found
        self.known = known


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_DIALECT = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "bigint": "INTEGER"},
    "postgres": {"serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "bigint": "BIGINT"},
}

# Conventions: times are epoch seconds (DOUBLE PRECISION), flags SMALLINT 0/1, lists and maps
# JSON text. These read the same from both drivers and keep one SQL text for both databases.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "keys, users, teams, end users, budgets, reservations, change feed, prices, spend and request log",
        (
            """CREATE TABLE teams (
                team_id TEXT PRIMARY KEY,
                team_alias TEXT,
                models TEXT NOT NULL DEFAULT '[]',
                rpm_limit {bigint}, tpm_limit {bigint}, max_parallel_requests {bigint},
                blocked SMALLINT NOT NULL DEFAULT 0,
                metadata TEXT NOT NULL DEFAULT '{{}}',
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE users (
                user_id TEXT PRIMARY KEY,
                user_alias TEXT,
                user_email TEXT,
                team_id TEXT,
                models TEXT NOT NULL DEFAULT '[]',
                rpm_limit {bigint}, tpm_limit {bigint}, max_parallel_requests {bigint},
                metadata TEXT NOT NULL DEFAULT '{{}}',
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE end_users (
                end_user_id TEXT PRIMARY KEY,
                blocked SMALLINT NOT NULL DEFAULT 0,
                created_at DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE keys (
                token TEXT PRIMARY KEY,
                key_name TEXT NOT NULL,
                key_alias TEXT,
                user_id TEXT,
                team_id TEXT,
                models TEXT NOT NULL DEFAULT '[]',
                rpm_limit {bigint}, tpm_limit {bigint}, max_parallel_requests {bigint},
                expires_at DOUBLE PRECISION,
                blocked SMALLINT NOT NULL DEFAULT 0,
                metadata TEXT NOT NULL DEFAULT '{{}}',
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL)""",
            "CREATE UNIQUE INDEX keys_alias ON keys (key_alias) WHERE key_alias IS NOT NULL",
            "CREATE INDEX keys_user ON keys (user_id)",
            "CREATE INDEX keys_team ON keys (team_id)",
            # one table for every budget: the reservation and reset statements are the same
            # whoever the budget belongs to
            """CREATE TABLE budgets (
                kind TEXT NOT NULL,
                id TEXT NOT NULL,
                max_budget DOUBLE PRECISION,
                budget_duration TEXT,
                budget_reset_at DOUBLE PRECISION,
                spend DOUBLE PRECISION NOT NULL DEFAULT 0,
                reserved DOUBLE PRECISION NOT NULL DEFAULT 0,
                PRIMARY KEY (kind, id))""",
            "CREATE INDEX budgets_reset ON budgets (budget_reset_at)",
            # what a running request has reserved in the database; a crashed instance's
            # holds expire and are given back
            """CREATE TABLE holds (
                request_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                id TEXT NOT NULL,
                amount DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (request_id, kind, id))""",
            "CREATE INDEX holds_expiry ON holds (expires_at)",
            # every change to a key, user, team or end user: other instances (and the server,
            # after a CLI change) poll it to drop what they cached
            """CREATE TABLE changes (
                seq {serial},
                kind TEXT NOT NULL,
                id TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL)""",
            # prices imported by `litecursor prices import` (LiteLLM's entry format, as JSON):
            # in the database so every instance uses the same
            """CREATE TABLE prices (
                model TEXT PRIMARY KEY,
                entry TEXT NOT NULL,
                imported_at DOUBLE PRECISION NOT NULL)""",
            # one row per request: LiteLLM's spend log and the request log in one
            """CREATE TABLE spend_logs (
                request_id TEXT PRIMARY KEY,
                start_time DOUBLE PRECISION NOT NULL,
                end_time DOUBLE PRECISION NOT NULL,
                key_hash TEXT, key_alias TEXT, user_id TEXT, team_id TEXT, end_user TEXT,
                model TEXT, model_group TEXT, deployment TEXT, provider TEXT,
                prompt_tokens {bigint} NOT NULL DEFAULT 0,
                completion_tokens {bigint} NOT NULL DEFAULT 0,
                cached_tokens {bigint} NOT NULL DEFAULT 0,
                cache_write_tokens {bigint} NOT NULL DEFAULT 0,
                reasoning_tokens {bigint} NOT NULL DEFAULT 0,
                spend DOUBLE PRECISION NOT NULL DEFAULT 0,
                estimated SMALLINT NOT NULL DEFAULT 0,
                latency_ms DOUBLE PRECISION, ttft_ms DOUBLE PRECISION,
                status INTEGER NOT NULL,
                error_type TEXT, error_message TEXT,
                conversation_id TEXT,
                route TEXT, client_ip TEXT, user_agent TEXT,
                stream SMALLINT NOT NULL DEFAULT 0,
                upstream_status INTEGER,
                attempts TEXT NOT NULL DEFAULT '[]',
                retries INTEGER NOT NULL DEFAULT 0,
                fallbacks INTEGER NOT NULL DEFAULT 0,
                request_body TEXT, response_body TEXT,
                metadata TEXT NOT NULL DEFAULT '{{}}')""",
            # newest-first keyset pages, whole log and per filter; retention deletes by time
            "CREATE INDEX spend_time ON spend_logs (start_time, request_id)",
            "CREATE INDEX spend_key ON spend_logs (key_hash, start_time)",
            "CREATE INDEX spend_user ON spend_logs (user_id, start_time)",
            "CREATE INDEX spend_team ON spend_logs (team_id, start_time)",
            "CREATE INDEX spend_end_user ON spend_logs (end_user, start_time)",
            "CREATE INDEX spend_model ON spend_logs (model_group, start_time)",
            "CREATE INDEX spend_status ON spend_logs (status, start_time)",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


def statements(migration: Migration, dialect: str) -> list[str]:
    words = _DIALECT[dialect]
    return [s.format(**words) for s in migration.statements]


def pending(current: int) -> list[Migration]:
    if current > LATEST:
        raise SchemaTooNewError(current, LATEST)
    return [m for m in MIGRATIONS if m.version > current]
