"""The local web application: live camera page, REST API, dashboard. Needs the [serve] extra."""

from moodlens.service.app import create_app
from moodlens.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
