"""Scheduling: the jobs ``leadsync run`` runs (syncs, sweeps, backfills)."""
