"""Mock Google Meet and Teams meetings for the bot's end-to-end tests (see server.py)."""
