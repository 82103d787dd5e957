"""Quality statistics over the results store: yield, capability, station health, unit drift (`rig stats`)."""
