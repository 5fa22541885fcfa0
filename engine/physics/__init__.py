"""Physics as plug-ins: each physics is a ``PhysicsSpec`` (``engine.physics.base``), found by
kind in the registry (``engine.physics.registry``). Diffusion, heat and elasticity are built in.

This package imports nothing at its own import: the Case schema is built from it, and a
plug-in's module imports ``engine.physics.base`` without pulling in the Case.
"""
