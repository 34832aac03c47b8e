"""Offline studies: rolling-horizon operation over a period (:mod:`.study`), sweeps of designs and
settings (:mod:`.sweep`), and their HTML reports (:mod:`.report`)."""
