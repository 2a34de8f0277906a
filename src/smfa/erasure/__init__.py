"""Erasure records: what `smfa unlearn` certifies, `smfa verify` checks, `smfa stream` chains.

record.py owns erasure.json (fields, hashes, reading and validating it), measure.py what a
record measures, verify.py the re-check, stream.py chained requests (docs/erasure.md).
"""
