"""Calendar connections (ICS feeds, CalDAV, Google, Microsoft) and their sync (issue 16)."""
