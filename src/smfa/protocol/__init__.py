"""The benchmark protocol, once, as typed data.

What each stage sees and what a reported number means lives here and nowhere else:
`vocab` names the question kinds, phrasings, views and splits (string enums, so files keep
today's strings); `questions` holds the named slices and the question sets every stage draws
from a world (training, forget, probe); `figures` is the one table of headline figures that
`smfa show`, report.md / report.html, the demo, variant selection and `smfa export-lora` read.
The package imports no torch and nothing above `smfa.data`.
"""
