"""Neural-operator surrogates: building blocks in ``layers``, whole models in ``models``.

Everything under this package imports torch; nothing outside it does, so ``import engine``
stays light (``engine/__init__.py`` never imports this package).
"""
