"""Simulated activity: pipeline update timelines and events (`sim.pipelines`), job runs (`sim.jobs`).

Nothing here runs in the background: an update or run is planned as a timeline of state changes at fixed emulator
times, and reads evaluate it against the clock (docs/EMULATOR.md §9.1).
"""
