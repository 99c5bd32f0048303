"""Deciding whether a response is correct: the one checker rewards and evaluation share.

``answers`` extracts the final answer (or program) from a response and compares it with the
reference (numbers, LaTeX and sympy expressions, logic labels); code is run against its tests
in ``sandbox``, a separate process in its own namespaces with time, memory and output limits.
Training and evaluation both call ``answers.check_response``, so they cannot disagree about
"correct".
"""
