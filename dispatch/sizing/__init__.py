"""Sizing of new assets on typical days: periods (tsam), unit costs, the LP, the run and its MPC check (docs/sizing.md)."""
