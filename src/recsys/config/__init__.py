"""Process settings (and, later, the knob catalogue)."""

from recsys.config.settings import ApiKey, Secret, Settings

__all__ = ["ApiKey", "Secret", "Settings"]
