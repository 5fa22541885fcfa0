"""Classical finite-element solvers on scikit-fem: one physics per module."""
