"""Training data of mesh-native surrogates: what a sample holds and how it is built from a case."""
