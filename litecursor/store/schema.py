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
    "sqlite": {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "bigint": "INTEGER",
        # a positive number rounded down (SQLite may be built without FLOOR)
        "hour_of_start": "CAST(start_time / 3600 AS INTEGER) * 3600",
        "day_of_hour": "CAST(hour / 86400 AS INTEGER) * 86400",
    },
    "postgres": {
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "bigint": "BIGINT",
        "hour_of_start": "FLOOR(start_time / 3600) * 3600",
        "day_of_hour": "FLOOR(hour / 86400) * 86400",
    },
}

#: the columns the request log's summaries group by and add up (migration 2); '' for NULL
_ACTIVITY_GROUPS = (
    "key_hash TEXT NOT NULL, user_id TEXT NOT NULL, team_id TEXT NOT NULL, "
    "model_group TEXT NOT NULL"
)
_ACTIVITY_SUMS = (
    "requests {bigint} NOT NULL DEFAULT 0, errors {bigint} NOT NULL DEFAULT 0, "
    "streamed {bigint} NOT NULL DEFAULT 0, spend DOUBLE PRECISION NOT NULL DEFAULT 0, "
    "prompt_tokens {bigint} NOT NULL DEFAULT 0, completion_tokens {bigint} NOT NULL "
    "DEFAULT 0, cached_tokens {bigint} NOT NULL DEFAULT 0"
)

#: who a logged request came from, as the summaries name it (sql_activity.key_id): the key's
#: hash, "master" for the master key, '' for no key at all
_KEY_ID = (
    "CASE WHEN key_hash IS NOT NULL THEN key_hash WHEN key_alias = 'master' THEN 'master' "
    "ELSE '' END"
)

#: what the per-key index of the request log holds of a key's hash (migration 3): its first 8
#: hex characters; a query for one key's rows names this and the whole hash
KEY_TAG = "substr(key_hash, 1, 8)"
KEY_TAG_LENGTH = 8

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
    Migration(
        2,
        "request log: hourly and daily totals and last-seen times for the admin page, failed "
        "requests indexed, the admin page's logged-out sessions",
        (
            # what the admin page adds up per key, user, team and model: each batch of spend rows
            # adds to its hours in the same transaction (sql_activity.py); '' stands for NULL so
            # that the primary key holds
            f"""CREATE TABLE activity_hourly (
                hour DOUBLE PRECISION NOT NULL,
                {_ACTIVITY_GROUPS},
                {_ACTIVITY_SUMS},
                PRIMARY KEY (hour, key_hash, user_id, team_id, model_group))""",
            "CREATE INDEX activity_key ON activity_hourly (key_hash, hour)",
            "CREATE INDEX activity_user ON activity_hourly (user_id, hour)",
            # the same per UTC day: a month's totals read 30 of these per key and model
            f"""CREATE TABLE activity_daily (
                day DOUBLE PRECISION NOT NULL,
                {_ACTIVITY_GROUPS},
                {_ACTIVITY_SUMS},
                PRIMARY KEY (day, key_hash, user_id, team_id, model_group))""",
            "CREATE INDEX activity_daily_key ON activity_daily (key_hash, day)",
            # and per hour for everyone: the overview's time line reads one row an hour
            f"""CREATE TABLE activity_totals (
                hour DOUBLE PRECISION PRIMARY KEY,
                {_ACTIVITY_SUMS})""",
            """CREATE TABLE last_seen (
                kind TEXT NOT NULL,
                id TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (kind, id))""",
            # the rows already in the log, summed the same way
            """INSERT INTO activity_hourly (hour, key_hash, user_id, team_id, model_group,
                requests, errors, streamed, spend, prompt_tokens, completion_tokens, cached_tokens)
                SELECT {hour_of_start}, {key_id}, COALESCE(user_id, ''),
                    COALESCE(team_id, ''), COALESCE(model_group, ''), COUNT(*),
                    SUM(CASE WHEN error_message IS NULL THEN 0 ELSE 1 END), SUM(stream),
                    SUM(spend), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens)
                FROM spend_logs WHERE route IS NULL OR route LIKE '%/chat/completions'
                GROUP BY 1, 2, 3, 4, 5""",
            """INSERT INTO activity_daily (day, key_hash, user_id, team_id, model_group,
                requests, errors, streamed, spend, prompt_tokens, completion_tokens, cached_tokens)
                SELECT {day_of_hour}, key_hash, user_id, team_id, model_group, SUM(requests),
                    SUM(errors), SUM(streamed), SUM(spend), SUM(prompt_tokens),
                    SUM(completion_tokens), SUM(cached_tokens)
                FROM activity_hourly GROUP BY 1, 2, 3, 4, 5""",
            """INSERT INTO activity_totals (hour, requests, errors, streamed, spend,
                prompt_tokens, completion_tokens, cached_tokens)
                SELECT hour, SUM(requests), SUM(errors), SUM(streamed), SUM(spend),
                    SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens)
                FROM activity_hourly GROUP BY hour""",
            """INSERT INTO last_seen (kind, id, at)
                SELECT 'key', {key_id}, MAX(start_time) FROM spend_logs
                WHERE (route IS NULL OR route LIKE '%/chat/completions')
                AND (key_hash IS NOT NULL OR key_alias = 'master') GROUP BY 2""",
            """INSERT INTO last_seen (kind, id, at) SELECT 'user', user_id, MAX(start_time)
                FROM spend_logs WHERE user_id IS NOT NULL
                AND (route IS NULL OR route LIKE '%/chat/completions') GROUP BY 2""",
            """INSERT INTO last_seen (kind, id, at) SELECT 'team', team_id, MAX(start_time)
                FROM spend_logs WHERE team_id IS NOT NULL
                AND (route IS NULL OR route LIKE '%/chat/completions') GROUP BY 2""",
            # the admin page's sessions ended by a logout (the sessions themselves are signed
            # cookies): every worker and instance refuses them until they expire
            """CREATE TABLE ui_sessions_ended (
                sid TEXT PRIMARY KEY,
                expires_at DOUBLE PRECISION NOT NULL)""",
            # the log's "failed" filter and its search in error messages read only failed rows
            """CREATE INDEX spend_failed ON spend_logs (start_time, request_id)
                WHERE error_message IS NOT NULL""",
        ),
    ),
    Migration(
        3,
        "request log: the per-key index holds the first 8 characters of the key hash, not all 64",
        (
            # each virtual key's row put all 64 characters of its hash into `spend_key`, where
            # the master key's rows put a NULL: writing those entries was most of what a
            # virtual key's row cost more (benchmarks/accounting.py). 8 characters (4 billion
            # values) find a key's rows as well; the query's `key_hash = ...` drops the rare
            # other key that shares them
            "DROP INDEX spend_key",
            "CREATE INDEX spend_key_tag ON spend_logs ({key_tag}, start_time)",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


def statements(migration: Migration, dialect: str) -> list[str]:
    words = {**_DIALECT[dialect], "key_id": _KEY_ID, "key_tag": KEY_TAG}
    return [s.format(**words) for s in migration.statements]


def pending(current: int) -> list[Migration]:
    if current > LATEST:
        raise SchemaTooNewError(current, LATEST)
    return [m for m in MIGRATIONS if m.version > current]
