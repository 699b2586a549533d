"""The meeting bot: joins a meeting in headless Chromium and reports to the appliance."""
