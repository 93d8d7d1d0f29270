"""``gazekit simulate``: reading sessions simulated on label maps, written as ordinary session folders.

Modules: :mod:`~gazekit.simulate.simulator` (the simulated reader: plan, eye movements, samples, viewer
log) and :mod:`~gazekit.simulate.fit` (its parameters fitted to the real Kvasir gaze, and the fidelity
table; ``python -m gazekit.simulate.fit fit|fidelity ...``).
"""
