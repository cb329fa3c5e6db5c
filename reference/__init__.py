"""Reference solution of the English-to-Pig-Latin Transformer homework.

Every golden output, the student notebook and the answer key come from this package.
It never imports ``autograder``.
"""
