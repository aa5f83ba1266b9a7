"""Pure network rules: address management (IPAM), and the network configuration a machine gets."""
