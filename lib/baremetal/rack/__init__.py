"""The rack controller: boot services next to the machines."""
