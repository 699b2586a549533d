"""LAN devices (issue 15): desktop clients seen by mDNS, pairing requests, paired devices and
their tokens (docs/pairing.md)."""
