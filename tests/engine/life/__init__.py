"""A random life of an org (issue 21, "Hunt the class").

A seeded generator writes a list of steps (``steps``): lifecycle events in two CRMs, faults
armed on connector calls, per-record rejections, unreadable values, time passing, cycles and
restarts. ``world`` plays them against LeadSync's engine over two in-memory CRMs;
``invariants`` checks after every cycle what must always hold and, once the faults stop,
that the store and the CRMs converge to what a fresh run over the same CRMs gives. ``life``
runs one life and shrinks a failing one to a minimal list of steps.

Why a seeded generator and not hypothesis' ``RuleBasedStateMachine``: while known defects
are open most lives break some invariant, and hypothesis stops at the first failing example
and spends the budget shrinking it; this life keeps living after a violation, so one run
counts how often *each* invariant fails, within a budget of seconds rather than examples.
A life is a plain list of steps naming people by slot, so any sub-list is a valid life:
shrinking is a delta-debugging loop over the list, and the result prints as a regression
test.
"""
