"""mDNS: the appliance announces itself and finds desktop clients on the LAN (contract section 9)."""
