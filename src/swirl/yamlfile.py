"""Reading YAML option files (`--config`, experiment files) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from swirl.errors import SwirlError


def load_config_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SwirlError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SwirlError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SwirlError(f"{path}: a config file must be a mapping of option names to values")
    return data
