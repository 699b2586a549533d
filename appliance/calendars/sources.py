"""Every calendar source, imported so that each registers its factory in `provider.PROVIDERS`.

A new kind of calendar is one module with a `register(kind, factory)` call, and one import here.
"""

from appliance.calendars import caldav_source, google, ics, microsoft

__all__ = ["caldav_source", "google", "ics", "microsoft"]
