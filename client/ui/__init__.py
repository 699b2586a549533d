"""The desktop client's windows (PySide6): one module per screen, plus the theme, the background
runner every network call goes through, speaker colours and notifications. The network, pairing,
trust and storage logic lives in the non-GUI modules of `client/`; these widgets only call it."""
