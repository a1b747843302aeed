"""config.yaml (LiteLLM's schema) -> typed, validated settings, read once at start.

`values` reads typed values with their paths, `models` the `model_list`, `router` the
`router_settings`, `limits` the limits of `litecursor_settings`, `settings` the whole file
into one `Config`.
"""

from .limits import Limits
from .models import Deployment
from .router import RouterSettings
from .settings import MASTER_KEY_ENV, Config, load, parse
from .values import ConfigError

__all__ = [
    "MASTER_KEY_ENV",
    "Config",
    "ConfigError",
    "Deployment",
    "Limits",
    "RouterSettings",
    "load",
    "parse",
]
