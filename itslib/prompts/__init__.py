"""Prompt sets shipped as data: the paper's quantitative grid (its Table 5) and its
human-study pairs (its Table 6). Load them with :func:`itslib.sweep.load_prompt_pairs`."""
