"""X12 5010 engine: pure, bytes in and typed values out, and back.

`core` holds delimiters, segments, the streaming reader with envelope checks and the writer;
one module per transaction set builds and parses it; `validate` is the only module that
imports pyx12.
"""
