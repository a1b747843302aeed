"""Reading config values with their paths: `os.environ/NAME`, typed reads, unknown-key reports.

Every failure is a `ConfigError` whose message starts with the value's path
(`model_list[2].litellm_params.timeout: must be a number`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ENV_PREFIX = "os.environ/"


class ConfigError(Exception):
    """A config problem; `str()` is one line naming the path of the bad value."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


# Keys LiteLLM documents that we accept but do not act on yet: reported, never silently dropped.
KNOWN_UNSUPPORTED = {
    "general_settings": {
        "store_model_in_db",
        "allowed_routes",
        "admin_only_routes",
        "custom_auth",
        "enforce_user_param",
        "background_health_checks",
        "health_check_interval",
        "disable_master_key_return",
        "ui_access_mode",
        "infer_model_from_keys",
        "use_redis_transaction_buffer",
        "pass_through_endpoints",
        "user_header_name",
    },
    "litellm_settings": {
        "cache",
        "cache_params",
        "set_verbose",
        "default_team_settings",
        "telemetry",
        "redact_user_api_key_info",
        "modify_params",
        "enable_preview_features",
    },
    "router_settings": {
        "cache_responses",
        "enable_pre_call_checks",
        "retry_policy",
        "allowed_fails_policy",
        "optional_pre_call_checks",
        "provider_budget_config",
        "enable_tag_filtering",
    },
    "litellm_params": {
        "region_name",
        "organization",
        "tags",
        "cache_control_injection_points",
        "merge_reasoning_content_in_choices",
        "max_retries",
        "use_in_pass_through",
        "custom_llm_provider",
        "stream",
        "mock_response",
    },
}


class ValueReader:
    """Typed reads of YAML values; collects warnings for keys LiteLLM knows and we ignore."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def env(self, value: Any, path: str) -> Any:
        """Resolve `os.environ/NAME` in any string; recurse into lists and mappings."""
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            name = value[len(ENV_PREFIX) :]
            if name not in self.environ:
                raise ConfigError(path, f"environment variable {name} is not set")
            return self.environ[name]
        if isinstance(value, dict):
            return {k: self.env(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.env(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ConfigError(path, f"must be a mapping, not {type(value).__name__}")
        return self.env(value, path)

    def seq(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise ConfigError(path, f"must be a list, not {type(value).__name__}")
        return value

    def str_list(self, value: Any, path: str) -> list[str]:
        if isinstance(value, str):
            return [value]
        items = self.seq(value, path)
        for i, v in enumerate(items):
            if not isinstance(v, str):
                raise ConfigError(f"{path}[{i}]", "must be a string")
        return items

    def opt_str(self, obj: dict[str, Any], key: str, path: str) -> str | None:
        v = obj.get(key)
        if v is None:
            return None
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ConfigError(path, f"must be a string, not {type(v).__name__}")
        return str(v)

    def opt_num(
        self, obj: dict[str, Any], key: str, path: str, *, positive: bool = True
    ) -> float | None:
        v = obj.get(key)
        if v is None:
            return None
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise ConfigError(path, f"must be a number, not '{v}'") from None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(path, f"must be a number, not {type(v).__name__}")
        if positive and v < 0:
            raise ConfigError(path, "must not be negative")
        return v

    def opt_int(self, obj: dict[str, Any], key: str, path: str) -> int | None:
        v = self.opt_num(obj, key, path)
        if v is None:
            return None
        if v != int(v):
            raise ConfigError(path, "must be a whole number")
        return int(v)

    def only(self, obj: dict[str, Any], path: str, allowed: set[str]) -> None:
        """Unknown keys: known LiteLLM ones are warned about, anything else is an error."""
        section = path.rsplit(".", 1)[-1].split("[")[0] if path else ""
        known = KNOWN_UNSUPPORTED.get(section, set())
        for key in obj:
            if key in allowed:
                continue
            full = f"{path}.{key}" if path else str(key)
            if key in known:
                self.warn(f"{full} is not supported yet and is ignored")
            else:
                hint = f"; known keys: {', '.join(sorted(allowed))}" if allowed else ""
                raise ConfigError(full, f"unknown key{hint}")

    def positive(self, raw: dict[str, Any], key: str, path: str, default: float) -> float:
        """`raw[key]` (seconds) or `default`; must be more than 0."""
        v = self.num_or(raw, key, path, default)
        if v <= 0:
            raise ConfigError(f"{path}.{key}", "must be more than 0 seconds")
        return v

    def int_or(self, raw: dict[str, Any], key: str, path: str, default: int) -> int:
        """`raw[key]` as a whole number, or `default`; `path` is the section's."""
        v = self.opt_int(raw, key, f"{path}.{key}")
        return default if v is None else v

    def num_or(self, raw: dict[str, Any], key: str, path: str, default: float) -> float:
        """`raw[key]` as a number, or `default`; `path` is the section's."""
        v = self.opt_num(raw, key, f"{path}.{key}")
        return default if v is None else float(v)
