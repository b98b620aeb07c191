"""Graded discussion prompts: the participation rubric, scoring, and the text rules behind it.

``rubric`` and ``text`` are pure logic (no I/O, no database, no discord) so a tutor's question
"why did this student get 9/12?" is answered by the same plain functions the tests exercise.
"""
