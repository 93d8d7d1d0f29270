"""Experiments as declared data: one spec per dataset (experiments/specs/<dataset>.toml) and one for the protocol
shared by all (protocol.toml: rows, schedules, gaze-loss recipes); one runner that trains, evaluates and exports a
row of a spec and writes every input it used next to the result (inputs.json); the sweeps that chose the spec's
values; the split lists; the results tables, their figures and the README's model table, read from the same specs
(tables, figures, stats, model_table). ``python -m experiments --help``."""
